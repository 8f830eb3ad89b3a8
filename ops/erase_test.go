package ops_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reserva/reserva/blob"
	"github.com/reserva/reserva/internal/tenanttest"
	"github.com/reserva/reserva/jobs"
	"github.com/reserva/reserva/migrations"
	"github.com/reserva/reserva/ops"
	"github.com/reserva/reserva/tenancy"
)

// stallingBlobs is a blob store whose writes stop half way (forever): a backup upload that the
// process is killed in the middle of.
type stallingBlobs struct {
	blob.Store
	stalled chan<- struct{}
}

func (s stallingBlobs) Put(ctx context.Context, key string, r io.Reader) error {
	return s.Store.Put(ctx, key, &stallingReader{r: r, stalled: s.stalled})
}

type stallingReader struct {
	r       io.Reader
	n       int
	stalled chan<- struct{}
}

func (s *stallingReader) Read(p []byte) (int, error) {
	if s.n >= 8<<10 { // well past what the blob store buffers before it creates its file
		close(s.stalled)
		select {} // the process is killed here
	}
	n, err := s.r.Read(p)
	s.n += n
	return n, err
}

const killedChildEnv = "RESERVA_TEST_KILLED_CHILD_DIR"

// killedChild is the process that TestEraseAfterKilledBackup kills: it leaves an export zip
// half made and a backup stalled in its upload, both full copies of acme's data.
func killedChild(t *testing.T, dir string) {
	ctx := context.Background()
	reg, err := tenancy.OpenRegistry(ctx, filepath.Join(dir, "registry.db"), tenancy.DefaultSlugGrace)
	if err != nil {
		t.Fatal(err)
	}
	stalled := make(chan struct{})
	blobs := stallingBlobs{tenanttest.OpenBlobs(t, filepath.Join(dir, "blobs")), stalled}
	m, err := tenancy.NewManager(reg, tenancy.Config{DataDir: dir, Migrations: notesMigrations(t),
		EraseElsewhere: ops.EraseBlobs(blobs)})
	if err != nil {
		t.Fatal(err)
	}
	acme, err := reg.BySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	f, _, err := m.ExportFile(acme)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	if _, err := ops.New(m, blobs).ExportTo(ctx, acme, func(name string) (io.WriteCloser, error) {
		w, err := zw.Create(name)
		return nopWriteCloser{w}, err
	}); err != nil {
		t.Fatal(err)
	}
	_ = zw.Flush()
	go func() { _, _ = ops.New(m, blobs).Backup(ctx, acme) }() // stalled on purpose, then cancelled
	<-stalled
	_, _ = os.Stdout.WriteString("\nstalled\n")
	select {}
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

func notesMigrations(t *testing.T) []migrations.Migration {
	return tenanttest.Migs(t, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
		CREATE TABLE sessions (token TEXT PRIMARY KEY, data BLOB, expiry REAL)`)
}

// Erasure means every copy. A process killed during an export and a backup upload leaves full
// copies of the business behind; with its mail, restore safety copy, backups and an older
// release's snapshot, deleting the business must leave no file under the data directory that
// holds its id or any of its customers' addresses (every file is read byte by byte).
func TestEraseAfterKilledBackup(t *testing.T) {
	if dir := os.Getenv(killedChildEnv); dir != "" {
		killedChild(t, dir)
		return
	}
	ctx := context.Background()
	e, m, blobDir := tenanttest.BackupEnv(t, nil)
	acme := tenanttest.MustProvision(t, m, "acme")
	keep := tenanttest.MustProvision(t, m, "keep")
	emails := []string{"alice.customer@example.com", "bob.customer@example.org"}
	for _, a := range emails {
		tenanttest.Exec(t, m, acme, `INSERT INTO notes (body) VALUES (?)`, "customer "+a)
	}
	for range 16 { // data that does not compress away: the upload has something to stall in
		tenanttest.Exec(t, m, acme, `INSERT INTO notes (body) VALUES (hex(randomblob(2048)))`)
	}
	tenanttest.Exec(t, m, keep, `INSERT INTO notes (body) VALUES ('kept@example.net')`)
	for _, tn := range []tenancy.Tenant{acme, keep} {
		if _, err := ops.New(m, e.Blobs).Backup(ctx, tn); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := ops.New(m, e.Blobs).Restore(ctx, acme, ""); err != nil { // leaves a safety copy
		t.Fatal(err)
	}
	mailer := jobs.FileMailer{Dir: m.MailDir()}
	for i, a := range emails {
		if err := mailer.Send(ctx, jobs.Mail{ID: fmt.Sprintf("<outbox-%d.%s@reserva>", i, acme.ID), TenantID: acme.ID, To: a,
			Subject: "Your booking", Body: "Manage it: http://x/acme/booking/secret"}); err != nil {
			t.Fatal(err)
		}
	}
	// What an older release left: a snapshot in DATA/tmp.
	path, _ := m.Path(acme.ID)
	db, _ := os.ReadFile(path)
	if err := os.MkdirAll(filepath.Join(e.Dir, "tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.Dir, "tmp", acme.ID+"-oldbackup.db"), db, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// A process killed half way through an export and a backup upload.
	cmd := osexec.Command(os.Args[0], "-test.run=^TestEraseAfterKilledBackup$", "-test.v")
	cmd.Env = append(os.Environ(), killedChildEnv+"="+e.Dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	stalled := false
	for sc.Scan() {
		if sc.Text() == "stalled" {
			stalled = true
			break
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if !stalled {
		t.Fatal("the child process did not reach its stalled upload")
	}
	for _, pattern := range []string{path + ".snapshot-*", filepath.Join(filepath.Dir(path), acme.ID+".export-*.zip"),
		filepath.Join(blobDir, acme.ID, "backups", "*.tmp")} {
		if left, _ := filepath.Glob(pattern); len(left) != 1 {
			t.Fatalf("the killed process did not leave %s: %v", pattern, left)
		}
	}

	// A new start cleans up, and the delete erases the rest.
	m2 := e.Manager(t, notesMigrations(t), tenancy.Config{EraseElsewhere: ops.EraseBlobs(tenanttest.OpenBlobs(t, blobDir))})
	if err := m2.Delete(ctx, acme.ID); err != nil {
		t.Fatal(err)
	}
	for _, needle := range append([]string{acme.ID}, emails...) {
		if left := filesHolding(t, e.Dir, []byte(needle)); len(left) > 0 {
			t.Errorf("%q is still in %v", needle, left)
		}
	}
	if got := tenanttest.Notes(t, m2, keep); len(got) != 1 || got[0] != "kept@example.net" {
		t.Errorf("the other business: %v", got)
	}
	if left := filesHolding(t, e.Dir, []byte(keep.ID)); len(left) == 0 {
		t.Error("the other business's files are gone too")
	}
}

// filesHolding returns the files under dir whose bytes contain needle.
func filesHolding(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(p, string(needle)) {
			found = append(found, p+" (name)")
			return nil
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, needle) {
			found = append(found, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// pausedReader yields its data, then tells that it got there and waits until it is let go.
type pausedReader struct {
	data    []byte
	reached chan struct{}
	resume  chan struct{}
}

func (p *pausedReader) Read(b []byte) (int, error) {
	if len(p.data) > 0 {
		n := copy(b, p.data)
		p.data = p.data[n:]
		return n, nil
	}
	if p.reached != nil {
		close(p.reached)
		p.reached = nil
		<-p.resume
	}
	return 0, io.EOF
}

// A file:// blob store the operator names (--blobs file:///srv/backups) writes an upload in
// progress beside its destination, as the default store under the data directory does: never in
// the system's temporary directory, where a killed backup would leave a copy of a business
// that erasing it cannot find.
func TestFileBlobStoreKeepsUploadsOutOfTmp(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	dir := t.TempDir()
	blobs, err := blob.Open(context.Background(), "file://"+filepath.ToSlash(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = blobs.Close() }()
	// More than the 512 bytes the bucket keeps back to sniff the content type: the file is made.
	r := &pausedReader{data: bytes.Repeat([]byte("a business's backup "), 1000), reached: make(chan struct{}), resume: make(chan struct{})}
	reached := r.reached
	done := make(chan error, 1)
	go func() { done <- blobs.Put(context.Background(), "tenant-id/backups/b1.db.gz", r) }()
	<-reached
	inTmp, _ := os.ReadDir(tmp)
	close(r.resume)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, e := range inTmp {
		t.Errorf("an upload in progress wrote %s in the system's temporary directory", e.Name())
	}
	if _, err := os.Stat(filepath.Join(dir, "tenant-id", "backups", "b1.db.gz")); err != nil {
		t.Errorf("the upload is not in the store's directory: %v", err)
	}
}
