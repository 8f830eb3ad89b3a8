package web_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"testing"
	"time"

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
