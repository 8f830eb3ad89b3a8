package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/reserva/reserva/cluster"
	"github.com/reserva/reserva/tenancy"
)

// cmdClusterMove runs `reserva cluster move --tenant S --to N`: the business's owner releases
// it (its requests wait at its gate, its database gets a final sync) and node N claims it at
// once; the command prints the pause. It joins the cluster for the while with a NATS server of
// its own, as cluster status does.
func cmdClusterMove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cluster move", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: reserva cluster move --peers HOST:PORT,... --tenant SLUG --to NODE\n\n"+
			"Moves a business to another live node: its owner finishes the requests in flight,\n"+
			"syncs it to the replica and hands it over; NODE claims it at once.\nFlags:\n")
		fs.PrintDefaults()
	}
	peers, addr := memberFlags(fs)
	slug := fs.String("tenant", "", "the business to move (slug)")
	to := fs.String("to", "", "the node to move it to (its --node-id)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkMember("cluster move", *peers, *addr); err != nil {
		return err
	}
	switch {
	case tenancy.ValidateSlug(*slug) != nil:
		return fmt.Errorf("%w: cluster move: --tenant must be a business's slug", errUsage)
	case !moveIDPattern.MatchString(*to):
		return fmt.Errorf("%w: cluster move: --to must be a node id (letters, digits, - and _)", errUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, moveTimeout+10*time.Second)
	defer cancel()
	nc, leave, err := visitCluster(ctx, "move", *addr, *peers)
	if err != nil {
		return fmt.Errorf("cluster move: %w", err)
	}
	defer leave()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("cluster move: %w", err)
	}
	var id string
	var own cluster.Owner
	for { // the buckets answer once this server's routes are up
		id, own, err = lookupOwner(ctx, js, *slug)
		if err == nil || errors.Is(err, errNoSuchBusiness) {
			break
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("cluster move: read the cluster's state through %s: %w", strings.Join(*peers, ", "), err)
		case <-t.C:
		}
	}
	if err != nil {
		return fmt.Errorf("cluster move: %w", err)
	}
	if own.Node == *to {
		fmt.Fprintf(stdout, "%s is on %s already (epoch %d)\n", *slug, own.Node, own.Epoch)
		return nil
	}
	var rep moveReply
	if err := requestJSON(ctx, nc, moveSubject+own.Node, moveRequest{TenantID: id, To: *to}, &rep); err != nil {
		return fmt.Errorf("cluster move: ask %s's owner %s: %w", *slug, own.Node, err)
	}
	if rep.Err != "" {
		return fmt.Errorf("cluster move: %s: %s", own.Node, rep.Err)
	}
	fmt.Fprintf(stdout, "Moved %s from %s to %s (epoch %d): paused %s (released in %s)\n", *slug, own.Node, *to,
		rep.Epoch, rep.Pause.Round(time.Millisecond), rep.Released.Round(time.Millisecond))
	return nil
}

var errNoSuchBusiness = errors.New("no business with that slug has been served in the cluster")

// lookupOwner finds slug's business in the route map and its owner in placement.
func lookupOwner(ctx context.Context, js jetstream.JetStream, slug string) (string, cluster.Owner, error) {
	ctx, cancel := context.WithTimeout(ctx, cluster.DefaultCallTimeout*3)
	defer cancel()
	routes, err := js.KeyValue(ctx, cluster.BucketRoutes)
	if err != nil {
		return "", cluster.Owner{}, fmt.Errorf("bucket %s: %w", cluster.BucketRoutes, err)
	}
	e, err := routes.Get(ctx, string(cluster.RouteSlug)+"."+base64.RawURLEncoding.EncodeToString([]byte(slug)))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", cluster.Owner{}, fmt.Errorf("%s: %w", slug, errNoSuchBusiness)
	}
	if err != nil {
		return "", cluster.Owner{}, fmt.Errorf("route of %s: %w", slug, err)
	}
	var rt cluster.Route
	if err := json.Unmarshal(e.Value(), &rt); err != nil {
		return "", cluster.Owner{}, fmt.Errorf("route of %s: %w", slug, err)
	}
	placement, err := js.KeyValue(ctx, cluster.BucketPlacement)
	if err != nil {
		return "", cluster.Owner{}, fmt.Errorf("bucket %s: %w", cluster.BucketPlacement, err)
	}
	e, err = placement.Get(ctx, rt.TenantID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", cluster.Owner{}, fmt.Errorf("%s: %w", slug, errNoSuchBusiness)
	}
	if err != nil {
		return "", cluster.Owner{}, fmt.Errorf("owner of %s: %w", slug, err)
	}
	var own cluster.Owner
	if err := json.Unmarshal(e.Value(), &own); err != nil {
		return "", cluster.Owner{}, fmt.Errorf("owner of %s: %w", slug, err)
	}
	return rt.TenantID, own, nil
}
