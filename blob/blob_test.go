package blob_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/reserva/reserva/blob"
)

// A Put whose reader fails part way leaves no object: a half backup must never pass for one.
func TestPutFailedCopyLeavesNoObject(t *testing.T) {
	ctx := context.Background()
	u, err := blob.FileURL(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := blob.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}()
	broken := io.MultiReader(strings.NewReader("half of a backup"), failingReader{})
	if err := s.Put(ctx, "t/backup.gz", broken); err == nil {
		t.Fatal("Put with a failing reader succeeded")
	}
	r, err := s.Get(ctx, "t/backup.gz")
	if !errors.Is(err, blob.ErrNotFound) {
		if err == nil {
			b, _ := io.ReadAll(r)
			t.Errorf("Get after a failed Put found %q; want ErrNotFound", b)
			return
		}
		t.Errorf("Get after a failed Put: %v; want ErrNotFound", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk gone") }
