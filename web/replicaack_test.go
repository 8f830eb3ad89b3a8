package web_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/reserva/reserva/internal/replicawire"
	"github.com/reserva/reserva/replica"
	"github.com/reserva/reserva/replica/replicatest"
	"github.com/reserva/reserva/tenancy"
	"github.com/reserva/reserva/web"
)

// A write waiting for the replica (--replica-ack sync) gives its business's turn back: with
// one turn per business, a page view of that business is answered while a sign-in waits for
// the store. (Holding the turn through the sync, the page view waited out the fair share's
// 2 s and got 503; and no two writes of a business could ever share a sync.)
func TestSyncAckGivesTurnBack(t *testing.T) {
	s3 := replicatest.NewS3(t, "r")
	rep := replicatest.Open(t, s3.URL, replica.Options{Logger: slog.New(slog.DiscardHandler)})
	srv, m := siteFull(t, tenancy.Config{Replicator: replicawire.Tenancy(rep, true)}, nil, slog.New(slog.DiscardHandler),
		func(s *web.Server) { s.FairShare = web.FairShare{N: 1, Wait: 2 * time.Second} })
	if !m.SyncAck() {
		t.Fatal("a Manager with a replicator and no ReplicaAsync does not acknowledge in sync")
	}
	// acme is open and in step with its replica before uploads are held.
	if status, _, _ := send(t, browser(t), "GET", srv.URL+"/acme", "", nil); status != http.StatusOK {
		t.Fatalf("GET /acme = %d", status)
	}
	tn, err := m.Registry().BySlug(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SyncTenant(context.Background(), tn); err != nil {
		t.Fatal(err)
	}

	arrived, release := s3.HoldUploads(t)
	signedIn := make(chan int, 1)
	go func() {
		status, _, _ := send(t, browser(t), "POST", srv.URL+"/acme/admin/login",
			url.Values{"email": {"owner@acme.example"}, "password": {"correct horse battery"}}.Encode(), form)
		signedIn <- status
	}()
	<-arrived // the sign-in's session is committed and on its way to the store
	if status, _, _ := send(t, browser(t), "GET", srv.URL+"/acme", "", nil); status != http.StatusOK {
		t.Errorf("page view while a sign-in waits for the replica = %d, want 200", status)
	}
	select {
	case status := <-signedIn:
		t.Fatalf("sign-in answered %d before the replica had it", status)
	default:
	}
	release()
	if status := <-signedIn; status != http.StatusSeeOther {
		t.Errorf("sign-in = %d, want 303 once the replica has it", status)
	}
}

// replicaSite is the whole site with --replica-ack sync on a fake S3 store, acme open and in
// step with its replica, and a browser signed in to acme as its owner.
func replicaSite(t *testing.T) (*httptest.Server, *tenancy.Manager, *replicatest.S3, *replica.Replicator, *http.Client) {
	t.Helper()
	s3 := replicatest.NewS3(t, "r")
	rep := replicatest.Open(t, s3.URL, replica.Options{Logger: slog.New(slog.DiscardHandler)})
	srv, m := siteFull(t, tenancy.Config{Replicator: replicawire.Tenancy(rep, true)}, nil, slog.New(slog.DiscardHandler))
	c := browser(t)
	if status, _, _ := send(t, c, "POST", srv.URL+"/acme/admin/login",
		url.Values{"email": {"owner@acme.example"}, "password": {"correct horse battery"}}.Encode(), form); status != http.StatusSeeOther {
		t.Fatalf("sign-in = %d", status)
	}
	return srv, m, s3, rep, c
}

// wsOwner opens a graphql-transport-ws connection to acme with c's session, acknowledged.
func wsOwner(t *testing.T, ctx context.Context, srv *httptest.Server, c *http.Client) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/acme/graphql",
		&websocket.DialOptions{HTTPClient: c, Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	if err := wsjson.Write(ctx, ws, map[string]any{"type": "connection_init"}); err != nil {
		t.Fatal(err)
	}
	var ack struct{ Type string }
	if err := wsjson.Read(ctx, ws, &ack); err != nil || ack.Type != "connection_ack" {
		t.Fatalf("ack %v %v", ack, err)
	}
	return ws
}

type wsMsg struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

// wsMessages reads ws's messages into a channel until the connection ends.
func wsMessages(ctx context.Context, ws *websocket.Conn) <-chan wsMsg {
	out := make(chan wsMsg, 16)
	go func() {
		defer close(out)
		for {
			var m wsMsg
			if err := wsjson.Read(ctx, ws, &m); err != nil {
				return
			}
			out <- m
		}
	}()
	return out
}

const createSauna = `mutation { createService(input: {name: "Sauna", durationMinutes: 60, priceAmount: 3000}) { id } }`

// A mutation sent over the websocket is answered, like one over HTTP, only once the replica
// holds it (--replica-ack sync): its next message does not come while the store holds the
// upload, and comes once it lets it through; the replica, restored, has the write. (It was
// answered at once: a machine lost right after could lose an acknowledged write.)
func TestWebsocketMutationWaitsForReplica(t *testing.T) {
	srv, m, s3, rep, c := replicaSite(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws := wsOwner(t, ctx, srv, c)
	msgs := wsMessages(ctx, ws)

	arrived, release := s3.HoldUploads(t)
	if err := wsjson.Write(ctx, ws, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": createSauna}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-arrived: // the mutation is committed, and its upload held by the store
	case m := <-msgs:
		t.Fatalf("mutation answered %s %s before its upload reached the store", m.Type, m.Payload)
	case <-ctx.Done():
		t.Fatal("no upload reached the store")
	}
	// A ping's pong is written after the upload was held: a next already sent would come
	// before it.
	if err := wsjson.Write(ctx, ws, map[string]any{"type": "ping"}); err != nil {
		t.Fatal(err)
	}
	if m := <-msgs; m.Type != "pong" {
		t.Fatalf("while the upload is held, got %s %s; want only a pong", m.Type, m.Payload)
	}
	release()
	next := <-msgs
	var res struct {
		Data   struct{ CreateService struct{ ID string } }
		Errors []json.RawMessage
	}
	if err := json.Unmarshal(next.Payload, &res); next.Type != "next" || err != nil || res.Data.CreateService.ID == "" {
		t.Fatalf("after the release: %s %s (%v); want next with the service", next.Type, next.Payload, err)
	}
	if done := <-msgs; done.Type != "complete" {
		t.Errorf("then %s %s, want complete", done.Type, done.Payload)
	}

	tn, err := m.Registry().BySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "acme.db")
	if err := rep.Restore(ctx, replica.TenantName(tn.ID), p, time.Time{}); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", tenancy.FileURL(p)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }() // only read
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM services WHERE name = 'Sauna'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("the restored replica holds %d services Sauna, want the 1 acknowledged", n)
	}
}

// A websocket mutation the replica does not confirm gets an error saying the outcome is
// unknown and to retry (TENANT_UNAVAILABLE), not a next claiming it was saved.
func TestWebsocketMutationReplicaDown(t *testing.T) {
	srv, _, s3, _, c := replicaSite(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ws := wsOwner(t, ctx, srv, c)
	msgs := wsMessages(ctx, ws)
	s3.SetDown(true)
	t.Cleanup(func() { s3.SetDown(false) }) // for the replicator's last syncs
	if err := wsjson.Write(ctx, ws, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": createSauna}}); err != nil {
		t.Fatal(err)
	}
	got := <-msgs
	var errs []struct {
		Message    string
		Extensions struct{ Code string }
	}
	if err := json.Unmarshal(got.Payload, &errs); got.Type != "error" || err != nil || len(errs) != 1 ||
		errs[0].Extensions.Code != "TENANT_UNAVAILABLE" || !strings.HasPrefix(errs[0].Message, "outcome unknown") {
		t.Errorf("mutation with the replica down: %s %s; want error TENANT_UNAVAILABLE outcome unknown", got.Type, got.Payload)
	}
}
