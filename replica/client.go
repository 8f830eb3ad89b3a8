package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/litestream"
	"github.com/superfly/ltx"
	gcblob "gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// countingClient counts the bytes a Litestream replica client uploads.
type countingClient struct {
	litestream.ReplicaClient
	bytes atomic.Int64
	total *atomic.Int64 // the Replicator's, over every client
}

func (c *countingClient) WriteLTXFile(ctx context.Context, level int, minTXID, maxTXID ltx.TXID, r io.Reader) (*ltx.FileInfo, error) {
	info, err := c.ReplicaClient.WriteLTXFile(ctx, level, minTXID, maxTXID, r)
	if err == nil && info != nil {
		c.bytes.Add(info.Size)
		c.total.Add(info.Size)
	}
	return info, err
}

// blobClient is a Litestream replica client over a gocloud.dev bucket (S3-compatible storage).
// Litestream's own S3 client cannot start when AWS_CA_BUNDLE is set (its HTTP client is not
// one the AWS SDK can add the bundle to); gocloud's honours the variable. Files are laid out as
// Litestream's file client does: <root>/ltx/<level>/<min>-<max>.ltx, each with the time its
// transactions were committed in its metadata, for point-in-time restore.
type blobClient struct {
	bucket *gcblob.Bucket
	root   string // key prefix of one database, without a trailing "/"
	logger *slog.Logger
}

// metaTimestamp is the metadata key of an LTX file's commit time (as Litestream's S3 client).
const metaTimestamp = "litestream-timestamp"

var _ litestream.ReplicaClient = (*blobClient)(nil)

func (c *blobClient) Type() string                  { return "s3" }
func (c *blobClient) Init(context.Context) error    { return nil }
func (c *blobClient) SetLogger(logger *slog.Logger) { c.logger = logger }
func (c *blobClient) levelPrefix(level int) string {
	return c.root + "/ltx/" + strconv.Itoa(level) + "/"
}
func (c *blobClient) key(level int, lo, hi ltx.TXID) string {
	return c.levelPrefix(level) + ltx.FormatFilename(lo, hi)
}

// LTXFiles lists a level's files in TXID order (their fixed-width hex names sort so). With
// useMetadata, each file's commit time is read from its metadata (point-in-time restore);
// otherwise the store's modification time stands in for it.
func (c *blobClient) LTXFiles(ctx context.Context, level int, seek ltx.TXID, useMetadata bool) (ltx.FileIterator, error) {
	prefix := c.levelPrefix(level)
	it := c.bucket.List(&gcblob.ListOptions{Prefix: prefix})
	var infos []*ltx.FileInfo
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, err)
		}
		lo, hi, err := ltx.ParseFilename(strings.TrimPrefix(obj.Key, prefix))
		if err != nil || lo < seek {
			continue
		}
		info := &ltx.FileInfo{Level: level, MinTXID: lo, MaxTXID: hi, Size: obj.Size, CreatedAt: obj.ModTime.UTC()}
		if useMetadata {
			attrs, err := c.bucket.Attributes(ctx, obj.Key)
			if gcerrors.Code(err) == gcerrors.NotFound {
				continue // removed by compaction since the listing
			}
			if err != nil {
				return nil, fmt.Errorf("read attributes of %s: %w", obj.Key, err)
			}
			if ts, ok := attrs.Metadata[metaTimestamp]; ok {
				if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
					info.CreatedAt = t.UTC()
				}
			}
		}
		infos = append(infos, info)
	}
	return ltx.NewFileInfoSliceIterator(infos), nil
}

// OpenLTXFile reads size bytes (all, when size is 0) of an LTX file from offset.
func (c *blobClient) OpenLTXFile(ctx context.Context, level int, minTXID, maxTXID ltx.TXID, offset, size int64) (io.ReadCloser, error) {
	key := c.key(level, minTXID, maxTXID)
	length := int64(-1)
	if size > 0 {
		length = size
	}
	r, err := c.bucket.NewRangeReader(ctx, key, offset, length, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fmt.Errorf("open %s: %w", key, os.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	return r, nil
}

// WriteLTXFile uploads an LTX file with its commit time (from its header) in its metadata.
func (c *blobClient) WriteLTXFile(ctx context.Context, level int, minTXID, maxTXID ltx.TXID, r io.Reader) (*ltx.FileInfo, error) {
	key := c.key(level, minTXID, maxTXID)
	hdr, full, err := ltx.PeekHeader(r)
	if err != nil {
		return nil, fmt.Errorf("write %s: read LTX header: %w", key, err)
	}
	ts := time.UnixMilli(hdr.Timestamp).UTC()
	// Cancelling the writer's context before Close aborts the upload: a failed copy must not
	// leave half a file under key.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := c.bucket.NewWriter(wctx, key, &gcblob.WriterOptions{
		ContentType: "application/octet-stream",
		Metadata:    map[string]string{metaTimestamp: ts.Format(time.RFC3339Nano)},
	})
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", key, err)
	}
	// A small buffer of our own: io.Copy would hand the copy to the writer's ReadFrom, which
	// allocates a 1 MiB buffer per upload, for LTX files that are mostly a few KiB.
	n, err := io.CopyBuffer(onlyWriter{w}, onlyReader{full}, make([]byte, 32<<10))
	if err != nil {
		cancel()
		_ = w.Close() // aborted: the copy's error is the one to report
		return nil, fmt.Errorf("write %s: %w", key, err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("write %s: %w", key, err)
	}
	return &ltx.FileInfo{Level: level, MinTXID: minTXID, MaxTXID: maxTXID, Size: n, CreatedAt: ts}, nil
}

// onlyWriter and onlyReader hide ReadFrom and WriteTo, so that io.CopyBuffer uses its buffer.
type onlyWriter struct{ io.Writer }
type onlyReader struct{ io.Reader }

// DeleteLTXFiles deletes files; one already gone is not an error.
func (c *blobClient) DeleteLTXFiles(ctx context.Context, a []*ltx.FileInfo) error {
	for _, info := range a {
		key := c.key(info.Level, info.MinTXID, info.MaxTXID)
		if err := c.bucket.Delete(ctx, key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
			return fmt.Errorf("delete %s: %w", key, err)
		}
	}
	return nil
}

// DeleteAll deletes every file of the database.
func (c *blobClient) DeleteAll(ctx context.Context) error {
	it := c.bucket.List(&gcblob.ListOptions{Prefix: c.root + "/"})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", c.root, err)
		}
		if err := c.bucket.Delete(ctx, obj.Key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
			return fmt.Errorf("delete %s: %w", obj.Key, err)
		}
	}
}
