package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"

	"github.com/reserva/reserva/internal/metrics"
)

// Static assets are embedded in the binary and served at /<name>?v=<hash of the content>: a
// changed file gets a new URL, so browsers may cache each version for a year.
//
//go:embed static
var staticFS embed.FS

type asset struct {
	body        []byte
	contentType string
	version     string
}

var assets = func() map[string]asset {
	out := map[string]asset{}
	entries, err := fs.ReadDir(staticFS, "static")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		b, err := staticFS.ReadFile("static/" + e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		out[e.Name()] = asset{body: b, contentType: mime.TypeByExtension(path.Ext(e.Name())), version: hex.EncodeToString(sum[:6])}
	}
	return out
}()

// assetURL is the cache-busting URL of an embedded asset.
func assetURL(name string) string {
	a, ok := assets[name]
	if !ok {
		panic("web: no static asset " + name)
	}
	return "/" + name + "?v=" + a.version
}

// serveAsset serves one embedded asset; the current version is cached for good.
func serveAsset(name string) http.HandlerFunc {
	a := assets[name]
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("ETag", `"`+a.version+`"`)
		if r.URL.Query().Get("v") == a.version {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		if r.Header.Get("If-None-Match") == `"`+a.version+`"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write(a.body)
	}
}

// withAssets serves the embedded assets at /<name> and passes every other request on.
func withAssets(next http.Handler) http.Handler {
	handlers := map[string]http.Handler{}
	for name := range assets {
		handlers["/"+name] = serveAsset(name)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, ok := handlers[r.URL.Path]; ok && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			metrics.SetRoute(r.Context(), "GET /{asset}")
			h.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
