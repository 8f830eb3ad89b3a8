package graph

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/reserva/reserva/domain"
)

// heldBody is a body already in memory, as web's bufferBody leaves it; reading it fails, so a
// handler that copied it again by reading would see.
type heldBody struct {
	buf []byte
	err error
}

func (b heldBody) Read([]byte) (int, error) {
	return 0, errors.New("read again: the buffered bytes were copied")
}
func (b heldBody) Close() error              { return nil }
func (b heldBody) Buffered() ([]byte, error) { return b.buf, b.err }

// The GraphQL handler takes a body web has buffered as it is, without a second copy (that
// doubled the memory a large body holds, past what the body budget counts), and still refuses
// one over the limit.
func TestReadBodyUsesBufferedBytes(t *testing.T) {
	buf := []byte(`{"query":"{ business { name } }"}`)
	r := httptest.NewRequest(http.MethodPost, "/acme/graphql", nil)
	r.Body = heldBody{buf: buf}
	got, err := readBody(httptest.NewRecorder(), r)
	if err != nil || string(got) != string(buf) || &got[0] != &buf[0] {
		t.Errorf("readBody = %q, %v; want the buffered bytes themselves", got, err)
	}

	over := heldBody{buf: []byte(strings.Repeat("a", domain.MaxBodyBytes)), err: &http.MaxBytesError{Limit: domain.MaxBodyBytes}}
	r.Body = over
	var tooBig *http.MaxBytesError
	if _, err := readBody(httptest.NewRecorder(), r); !errors.As(err, &tooBig) {
		t.Errorf("readBody of a body cut at the limit: %v, want a MaxBytesError", err)
	}

	r = httptest.NewRequest(http.MethodPost, "/acme/graphql", strings.NewReader(string(buf))) // not buffered: read
	if got, err := readBody(httptest.NewRecorder(), r); err != nil || string(got) != string(buf) {
		t.Errorf("readBody of a plain body = %q, %v", got, err)
	}
}
