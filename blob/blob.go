// Package blob keeps the files that are not in a tenant's database (backups, logos) in an
// object store: a directory on disk by default (file://), or S3-compatible storage, through
// gocloud.dev/blob. Every key of a tenant starts with its id, so erasing the tenant removes
// them all with one DeletePrefix.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	gcblob "gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob" // file:// buckets: the embedded default
	_ "gocloud.dev/blob/s3blob"   // s3:// buckets: S3-compatible storage when configured
	"gocloud.dev/gcerrors"
)

// ErrNotFound means no blob has the key.
var ErrNotFound = errors.New("blob not found")

// Store keeps files that are not in a tenant's database: backups, logos, uploads. Keys of
// one tenant all start with its id, so erasing a tenant can remove them all.
type Store interface {
	Put(ctx context.Context, key string, r io.Reader) error
	Get(ctx context.Context, key string) (io.ReadCloser, error) // ErrNotFound
	DeletePrefix(ctx context.Context, prefix string) (int, error)
	Close() error
}

// Open opens the bucket at rawURL: file:///abs/dir (the default, under the data
// directory) or s3://bucket?region=...&endpoint=... for S3-compatible storage.
func Open(ctx context.Context, rawURL string) (Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("blob store URL %q: %w", rawURL, err)
	}
	if u.Scheme == "file" {
		if err := os.MkdirAll(filepath.FromSlash(u.Path), 0o700); err != nil {
			return nil, fmt.Errorf("blob store: %w", err)
		}
		// An upload in progress is written beside its destination, under the tenant's id, not
		// in the system's temporary directory (fileblob's default), where a killed backup would
		// leave a full copy of a business that erasing it cannot find.
		q := u.Query()
		if q.Get("no_tmp_dir") == "" {
			q.Set("no_tmp_dir", "true")
			u.RawQuery = q.Encode()
			rawURL = u.String()
		}
	}
	b, err := gcblob.OpenBucket(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("open blob store %s: %w", u.Redacted(), err)
	}
	s := bucketStore{b: b}
	if u.Scheme == "file" {
		s.dir = filepath.FromSlash(u.Path)
	}
	return s, nil
}

// FileURL is the URL of a local blob directory.
func FileURL(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: "no_tmp_dir=true"}).String(), nil
}

type bucketStore struct {
	b   *gcblob.Bucket
	dir string // for file:// stores: the directory, whose emptied folders DeletePrefix removes
}

func (s bucketStore) Put(ctx context.Context, key string, r io.Reader) error {
	// Cancelling the writer's context before Close aborts the write: a failed copy must not
	// leave half an object under key.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.b.NewWriter(wctx, key, nil)
	if err != nil {
		return fmt.Errorf("write blob %s: %w", key, err)
	}
	if _, err := io.Copy(w, r); err != nil {
		cancel()
		_ = w.Close() // aborted: the copy's error is the one to report
		return fmt.Errorf("write blob %s: %w", key, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write blob %s: %w", key, err)
	}
	return nil
}

func (s bucketStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	r, err := s.b.NewReader(ctx, key, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fmt.Errorf("blob %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", key, err)
	}
	return r, nil
}

func (s bucketStore) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	it := s.b.List(&gcblob.ListOptions{Prefix: prefix})
	n := 0
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return n, s.removeEmptyDirs(prefix)
		}
		if err != nil {
			return n, fmt.Errorf("list blobs %s: %w", prefix, err)
		}
		if err := s.b.Delete(ctx, obj.Key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
			return n, fmt.Errorf("delete blob %s: %w", obj.Key, err)
		}
		n++
	}
}

// removeEmptyDirs removes the folder of a deleted prefix that ends in "/" (a tenant's) in a
// file:// store, with whatever the listing did not show: the store's temporary files of an
// interrupted write (compressed copies of the business) and attribute files.
func (s bucketStore) removeEmptyDirs(prefix string) error {
	if s.dir == "" || !strings.HasSuffix(prefix, "/") || strings.Contains(prefix, "..") {
		return nil
	}
	root := filepath.Join(s.dir, filepath.FromSlash(prefix))
	if rel, err := filepath.Rel(s.dir, root); err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return nil
	}
	return os.RemoveAll(root)
}

func (s bucketStore) Close() error { return s.b.Close() }
