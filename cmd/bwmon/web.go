package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"

	"github.com/bwmon/bwmon/httpapi"
	"github.com/bwmon/bwmon/model"
)

// listenWeb binds cfg's address and makes the HTTP server for it, so that
// a port in use stops the agent before it starts; (nil, nil, nil) when HTTP
// is off. With yield (cfg.Listen is the built-in default), a busy address
// means serving on another loopback port, said in one warning. It logs the
// URL to open. deps holds the server's collaborators (NotifyStats, Usage,
// Processes); the rest of its Options come from cfg and limits.
func listenWeb(cfg httpapi.Config, yield bool, limits model.Limits, deps httpapi.Options, logger *slog.Logger) (*httpapi.Server, net.Listener, error) {
	if cfg.Listen == "" {
		return nil, nil, nil
	}
	var ln net.Listener
	var err error
	moved := false
	if yield {
		ln, moved, err = listenYielding(cfg.Listen)
	} else {
		ln, err = net.Listen("tcp", cfg.Listen)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("listening for http on %s: %w (%s)", cfg.Listen, err, listenHint(err))
	}
	url := "http://" + ln.Addr().String() + "/"
	if moved {
		logger.Warn("the default listen address is in use (by the bwmon service?): serving on another loopback port; use -listen ADDR to choose one",
			"component", "http", "busy", cfg.Listen, "url", url)
	}
	opts := deps
	opts.Listen, opts.Token, opts.AllowedOrigins = ln.Addr().String(), cfg.Token, cfg.AllowedOrigins
	opts.Logger, opts.MaxApps, opts.MaxClients = logger, limits.HistoryApps, limits.WebSocketClients
	srv, err := httpapi.New(opts)
	if err != nil {
		ln.Close()
		return nil, nil, err
	}
	logger.Info("serving the web page, API and metrics", "component", "http", "url", url, "token", cfg.Token != "")
	if host, _, _ := net.SplitHostPort(cfg.Listen); cfg.Token == "" && !isLoopback(host) {
		logger.Warn("serving every process's command line to the network without a token: set [http] token, or listen on 127.0.0.1",
			"component", "http", "listen", cfg.Listen)
	}
	return srv, ln, nil
}

// listenHint says how to fix a failed listen.
func listenHint(err error) string {
	const fix = `give -listen (or [http] listen) another address, or "" to serve no HTTP`
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return "another program uses the port: " + fix
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "the host is not an address of this machine: " + fix
	case errors.Is(err, syscall.EACCES):
		return "ports below 1024 need CAP_NET_BIND_SERVICE: " + fix
	default:
		return fix
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
