package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/bwmon/bwmon/httpapi"
	"github.com/bwmon/bwmon/model"
)

// listenWeb makes the HTTP server of cfg and binds its address, so that a
// port in use stops the agent before it starts; (nil, nil, nil) when HTTP
// is off. It logs the URL to open.
func listenWeb(cfg HTTPConfig, limits model.Limits, notify func() model.NotifyStats, usage http.Handler, logger *slog.Logger) (*httpapi.Server, net.Listener, error) {
	if cfg.Listen == "" {
		return nil, nil, nil
	}
	srv, err := httpapi.New(httpapi.Options{
		Listen: cfg.Listen, Token: cfg.Token, AllowedOrigins: cfg.AllowedOrigins,
		NotifyStats: notify, Usage: usage, Logger: logger,
		MaxApps: limits.HistoryApps, MaxClients: limits.WebSocketClients,
	})
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("listening for http on %s: %w (is another program using the port? set [http] listen to another address, or listen = \"\" to serve no HTTP)", cfg.Listen, err)
	}
	url := "http://" + ln.Addr().String() + "/"
	logger.Info("serving the web page, API and metrics", "component", "http", "url", url, "token", cfg.Token != "")
	if host, _, _ := net.SplitHostPort(cfg.Listen); cfg.Token == "" && !isLoopback(host) {
		logger.Warn("serving every process's command line to the network without a token: set [http] token, or listen on 127.0.0.1",
			"component", "http", "listen", cfg.Listen)
	}
	return srv, ln, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
