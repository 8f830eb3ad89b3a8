package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// cmdClusterDrain runs `reserva cluster drain --node N`: N stops taking new businesses and hands
// every business it holds to the other live nodes, as SIGTERM would, but keeps running (to be
// upgraded, or stopped, with nothing left to hand over). --resume takes N back. It joins the
// cluster for the while with a NATS server of its own, as cluster status does.
func cmdClusterDrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cluster drain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: reserva cluster drain --peers HOST:PORT,... --node NODE [--resume]\n\n"+
			"Hands every business of NODE to the other live nodes; NODE keeps running but takes no\n"+
			"new business until --resume.\nFlags:\n")
		fs.PrintDefaults()
	}
	peers, addr := memberFlags(fs)
	id := fs.String("node", "", "the node to drain (its --node-id)")
	resume := fs.Bool("resume", false, "let the node take businesses again")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkMember("cluster drain", *peers, *addr); err != nil {
		return err
	}
	if !moveIDPattern.MatchString(*id) {
		return fmt.Errorf("%w: cluster drain: --node must be a node id (letters, digits, - and _)", errUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, drainTimeout+10*time.Second)
	defer cancel()
	nc, leave, err := visitCluster(ctx, "drain", *addr, *peers)
	if err != nil {
		return fmt.Errorf("cluster drain: %w", err)
	}
	defer leave()
	req, _ := json.Marshal(drainRequest{Resume: *resume}) // a bool always marshals
	var msg *nats.Msg
	for { // no responders until this server's routes to the node are up
		msg, err = nc.RequestWithContext(ctx, drainSubject+*id, req)
		if !errors.Is(err, nats.ErrNoResponders) {
			break
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("cluster drain: no node %s answers through %s (is it running?)", *id, strings.Join(*peers, ", "))
		case <-t.C:
		}
	}
	if err != nil {
		return fmt.Errorf("cluster drain: ask %s: %w", *id, err)
	}
	var rep drainReply
	if len(msg.Data) > maxMoveMessage*4 || json.Unmarshal(msg.Data, &rep) != nil {
		return fmt.Errorf("cluster drain: %s's answer is not a drain's", *id)
	}
	if rep.Err != "" {
		return fmt.Errorf("cluster drain: %s: %s", *id, rep.Err)
	}
	if *resume {
		fmt.Fprintf(stdout, "%s takes new businesses again (it holds %d)\n", *id, rep.Held)
		return nil
	}
	fmt.Fprintf(stdout, "Drained %s: handed over %d of %d businesses in %s; it takes no new ones until "+
		"`reserva cluster drain --node %s --resume` or a restart\n", *id, rep.HandedOver, rep.Held, rep.Took.Round(time.Millisecond), *id)
	if rep.HandedOver < rep.Held {
		return fmt.Errorf("cluster drain: %d businesses stay on %s (its log says why); run the drain again",
			rep.Held-rep.HandedOver, *id)
	}
	return nil
}
