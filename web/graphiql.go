package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql/playground"

	"github.com/reserva/reserva/internal/paths"
)

// The GraphQL explorer's scripts and styles are embedded in the binary, so that it works with no
// access to a CDN (it showed "Loading…" for ever offline). They are the files gqlgen's
// playground loads from its CDN, with the same integrity hashes, copied from the npm packages
// graphiql 4.1.2 (graphiql.min.js, graphiql.min.css), react 18.2.0 and react-dom 18.2.0
// (umd/*.production.min.js), MIT-licensed (LICENSE.* beside them). To update: npm pack each
// package, copy the same files, and check the explorer page in a browser.
//
//go:embed graphiql/graphiql.min.js graphiql/graphiql.min.css graphiql/react.production.min.js graphiql/react-dom.production.min.js
var graphiqlFS embed.FS

// graphiqlAsset is one embedded explorer file with its subresource integrity hash.
type graphiqlAsset struct {
	asset
	integrity string
	gzipped   func() []byte // the body gzipped, made on first use (a fifth of the bytes)
}

var graphiqlAssets = func() map[string]graphiqlAsset {
	out := map[string]graphiqlAsset{}
	for _, name := range []string{"graphiql.min.js", "graphiql.min.css", "react.production.min.js", "react-dom.production.min.js"} {
		b, err := graphiqlFS.ReadFile("graphiql/" + name)
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		out[name] = graphiqlAsset{
			asset:     asset{body: b, contentType: mime.TypeByExtension(path.Ext(name)), version: hex.EncodeToString(sum[:6])},
			integrity: "sha256-" + base64.StdEncoding.EncodeToString(sum[:]),
			gzipped: sync.OnceValue(func() []byte {
				var buf bytes.Buffer
				zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // the level is valid
				_, _ = zw.Write(b)                                       // into buf: cannot fail
				_ = zw.Close()
				return buf.Bytes()
			}),
		}
	}
	return out
}()

// graphiqlCSP lets the explorer run its inline start-up script and styles; everything else,
// scripts included, comes from this origin only (fonts are data: URLs in the stylesheet).
const graphiqlCSP = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"

// graphiql serves the GraphQL explorer to signed-in users.
func (s *Server) graphiql(w http.ResponseWriter, r *http.Request) {
	l := leaseOf(r)
	base := paths.Admin(l.Tenant.Slug, paths.AdminGraphiQLAsset(""))
	url := func(name string) string { return base + name + "?v=" + graphiqlAssets[name].version }
	sri := func(name string) string { return graphiqlAssets[name].integrity }
	w.Header().Set("Content-Security-Policy", graphiqlCSP)
	playground.Handler(l.Tenant.Name+" GraphQL", paths.Site(l.Tenant.Slug, paths.GraphQL),
		playground.WithGraphiqlVersion(url("graphiql.min.js"), url("graphiql.min.css"), sri("graphiql.min.js"), sri("graphiql.min.css")),
		playground.WithGraphiqlReactVersion(url("react.production.min.js"), url("react-dom.production.min.js"),
			sri("react.production.min.js"), sri("react-dom.production.min.js")),
	).ServeHTTP(w, r)
}

// graphiqlFile serves one of the explorer's files, gzipped to clients that take it; each
// version is cached for good.
func (s *Server) graphiqlFile(w http.ResponseWriter, r *http.Request) {
	a, ok := graphiqlAssets[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Vary", "Accept-Encoding")
	body, etag := a.body, `"`+a.version+`"`
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		body, etag = a.gzipped(), `"`+a.version+`-gz"`
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("ETag", etag)
	if r.URL.Query().Get("v") == a.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(body)
}
