package web

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/reserva/reserva/domain"
)

// A buffered body hands its bytes to the GraphQL handler (graph's readBody) without a second
// copy: Buffered returns what is left to read, and why the reading stopped short.
func TestBufferedBodyHandsOverItsBytes(t *testing.T) {
	type buffered interface{ Buffered() ([]byte, error) }
	body := `{"query":"{ business { name } }"}`
	for name, tc := range map[string]struct {
		body    string
		want    string // what Buffered returns after the handler read 2 bytes
		tooLong bool
	}{
		"whole":    {body, body[2:], false},
		"too long": {strings.Repeat("a", domain.MaxBodyBytes+10), strings.Repeat("a", domain.MaxBodyBytes-2), true},
	} {
		t.Run(name, func(t *testing.T) {
			ran := false
			h := limitBody(bufferBody(newBodyBudget(BodyBudget{}), http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				ran = true
				b, ok := r.Body.(buffered)
				if !ok {
					t.Fatalf("the body reaches the handler as %T, without Buffered", r.Body)
				}
				if _, err := io.ReadFull(r.Body, make([]byte, 2)); err != nil {
					t.Fatal(err)
				}
				got, err := b.Buffered()
				var tooBig *http.MaxBytesError
				if string(got) != tc.want || errors.As(err, &tooBig) != tc.tooLong {
					t.Errorf("Buffered = %d bytes, %v; want %d bytes, a MaxBytesError: %v", len(got), err, len(tc.want), tc.tooLong)
				}
			})))
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/acme/graphql", strings.NewReader(tc.body)))
			if !ran {
				t.Fatal("the handler did not run")
			}
		})
	}
}
