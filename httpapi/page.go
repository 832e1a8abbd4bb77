package httpapi

import (
	"embed"
	"io/fs"
	"net/http"
)

// static holds the page: index.html, its scripts (core.js, then table.js,
// procs.js, graph.js, links.js, usage.js and app.js: plain scripts sharing
// window.bwmon, no build step), style.css and the vendored uPlot chart
// library (static/vendor/README.md gives its version and licence). Nothing is loaded from outside the agent.
//
//go:embed static
var static embed.FS

// contentPolicy lets the page load only from the agent itself.
const contentPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// pageHandler serves the page's files at / and /static/.
func pageHandler() http.Handler {
	root, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	files := http.FileServerFS(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache") // revalidate: a new agent may ship a new page
		switch {
		case r.URL.Path == "/":
			http.ServeFileFS(w, r, root, "index.html")
		case len(r.URL.Path) > len("/static/") && r.URL.Path[:len("/static/")] == "/static/":
			http.StripPrefix("/static", files).ServeHTTP(w, r)
		default:
			writeError(w, http.StatusNotFound, "no such page: open /")
		}
	})
}
