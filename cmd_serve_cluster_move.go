package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reserva/reserva/cluster"
)

// Planned moves (reserva cluster move). The owner of a business hears a move on its own NATS
// subject, releases the business exactly as a drain does (release: gate, final sync, detach,
// placement to the target in the next epoch, the marker fencing itself), then asks the target,
// on the target's subject, to claim it at once, so that the pause is one release and one claim
// (a restore from the replica), not a wait for the next request.
const (
	moveSubject  = "reserva.move."  // + the owner's node id
	claimSubject = "reserva.claim." // + the target's node id
	// moveTimeout bounds a whole move as the command waits for it; a claim has what is left.
	moveTimeout = 30 * time.Second
	// maxMoveMessage bounds a move's request (two ids in JSON).
	maxMoveMessage = 1 << 10
)

var moveIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

type moveRequest struct {
	TenantID string `json:"tenant_id"`
	To       string `json:"to,omitempty"`
}

type moveReply struct {
	From     string        `json:"from,omitempty"`
	Epoch    uint64        `json:"epoch,omitempty"`    // the epoch the target claimed
	Released time.Duration `json:"released,omitempty"` // gate to hand-over, on the owner
	Pause    time.Duration `json:"pause,omitempty"`    // gate to the target's claim done
	Err      string        `json:"error,omitempty"`
}

// serveMoves answers moves of this node's businesses and claims of businesses moved to it,
// on nc until it closes.
func (m *clusterMember) serveMoves(nc *nats.Conn) error {
	m.mu.Lock()
	m.moves = nc
	m.mu.Unlock()
	if _, err := nc.Subscribe(moveSubject+m.self.ID, m.answer(func(ctx context.Context, req moveRequest) moveReply {
		return m.moveOut(ctx, nc, req)
	})); err != nil {
		return fmt.Errorf("listen for moves: %w", err)
	}
	if _, err := nc.Subscribe(claimSubject+m.self.ID, m.answer(func(ctx context.Context, req moveRequest) moveReply {
		return m.claimMoved(ctx, req)
	})); err != nil {
		return fmt.Errorf("listen for claims: %w", err)
	}
	if err := m.serveDrains(nc); err != nil {
		return err
	}
	return m.serveFinds(nc)
}

// answer decodes a bounded request, runs do under moveTimeout and replies with its result.
func (m *clusterMember) answer(do func(context.Context, moveRequest) moveReply) nats.MsgHandler {
	return func(msg *nats.Msg) {
		var req moveRequest
		var rep moveReply
		switch {
		case len(msg.Data) > maxMoveMessage:
			rep.Err = "the request is too large"
		case json.Unmarshal(msg.Data, &req) != nil || !moveIDPattern.MatchString(req.TenantID) ||
			(req.To != "" && !moveIDPattern.MatchString(req.To)):
			rep.Err = "the request is not a move of a business"
		default:
			ctx, cancel := context.WithTimeout(context.Background(), moveTimeout)
			rep = do(ctx, req)
			cancel()
		}
		if rep.Err != "" {
			m.log.Warn("move a business", "node", m.self.ID, "tenant_id", req.TenantID, "to", req.To, "err", rep.Err)
		}
		b, _ := json.Marshal(rep) // strings, numbers and durations always marshal
		if err := msg.Respond(b); err != nil {
			m.log.Warn("answer a move", "node", m.self.ID, "tenant_id", req.TenantID, "err", err)
		}
	}
}

// moveOut releases business req.TenantID to req.To and has req.To claim it (asked over nc).
func (m *clusterMember) moveOut(ctx context.Context, nc *nats.Conn, req moveRequest) moveReply {
	rep := moveReply{From: m.self.ID}
	co := m.coordinator()
	if co == nil {
		rep.Err = "node " + m.self.ID + " has not joined the cluster yet"
		return rep
	}
	if req.To == m.self.ID {
		rep.Err = "the business is on node " + req.To + " already"
		return rep
	}
	m.mu.Lock()
	epoch, held := m.held[req.TenantID]
	m.mu.Unlock()
	if !held {
		rep.Err = "node " + m.self.ID + " does not serve this business now (it is claimed at its next request)"
		return rep
	}
	live, err := co.Liveness().Live(ctx)
	if err != nil {
		rep.Err = fmt.Sprintf("the live nodes are unknown: %v", err)
		return rep
	}
	schema := 0
	if t, err := m.tenants.Registry().Get(ctx, req.TenantID); err == nil {
		schema = t.SchemaVersion
	}
	if msg := moveTarget(live, req.To, schema); msg != "" {
		rep.Err = msg
		return rep
	}
	start := time.Now()
	if err := m.release(ctx, co, req.TenantID, epoch, req.To); err != nil {
		rep.Err = err.Error()
		return rep
	}
	rep.Released = time.Since(start)
	var claimed moveReply
	err = requestJSON(ctx, nc, claimSubject+req.To, moveRequest{TenantID: req.TenantID}, &claimed)
	switch {
	case err != nil:
		rep.Err = fmt.Sprintf("handed over to %s, which claims it at its next request (asking it now failed: %v)", req.To, err)
	case claimed.Err != "":
		rep.Err = fmt.Sprintf("handed over to %s, which claims it at its next request (its claim now failed: %s)", req.To, claimed.Err)
	}
	rep.Epoch, rep.Pause = claimed.Epoch, time.Since(start)
	m.log.InfoContext(ctx, "moved a business", "tenant_id", req.TenantID, "to", req.To, "epoch", rep.Epoch,
		"released", rep.Released.Round(time.Microsecond), "pause", rep.Pause.Round(time.Microsecond))
	return rep
}

// claimMoved claims a business just handed to this node, as its next request would.
func (m *clusterMember) claimMoved(ctx context.Context, req moveRequest) moveReply {
	if m.tenants == nil {
		return moveReply{Err: "node " + m.self.ID + " is not serving yet"}
	}
	t, err := m.tenants.Registry().Get(ctx, req.TenantID)
	if err != nil {
		return moveReply{Err: fmt.Sprintf("node %s does not know the business: %v", m.self.ID, err)}
	}
	// The hand-over was written a moment ago on another node: read placement past this
	// node's watched view, which may not have caught up yet, so the fence sees this node named.
	if co := m.coordinator(); co != nil {
		if _, err := co.Placement().Refresh(ctx, t.ID); err != nil {
			return moveReply{Err: fmt.Sprintf("read the owner of %s: %v", t.Slug, err)}
		}
	}
	if err := m.fence(ctx, t); err != nil {
		return moveReply{Err: err.Error()}
	}
	m.mu.Lock()
	epoch := m.held[t.ID]
	m.mu.Unlock()
	return moveReply{Epoch: epoch}
}

// moveTarget says why node id cannot take a business of schema ("" when it can): it must be
// live, serve HTTP (not a bare voter or a CLI) and know the schema.
func moveTarget(live []cluster.NodeInfo, id string, schema int) string {
	i := slices.IndexFunc(live, func(n cluster.NodeInfo) bool { return n.ID == id })
	switch {
	case i < 0:
		return "node " + id + " is not live"
	case live[i].HTTP == "":
		return "node " + id + " serves no businesses (it has no HTTP address)"
	case live[i].Draining:
		return "node " + id + " is draining (reserva cluster drain --resume takes it back)"
	case live[i].Schema < schema:
		return fmt.Sprintf("node %s runs an older Reserva (schema %d) than the business needs (%d)", id, live[i].Schema, schema)
	}
	return ""
}

// requestJSON sends req to subject and decodes the answer into out, within ctx.
func requestJSON(ctx context.Context, nc *nats.Conn, subject string, req moveRequest, out *moveReply) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	msg, err := nc.RequestWithContext(ctx, subject, b)
	if errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("no node answers on %s (is it running?)", subject)
	}
	if err != nil {
		return fmt.Errorf("request %s: %w", subject, err)
	}
	if len(msg.Data) > maxMoveMessage*4 {
		return fmt.Errorf("request %s: the answer is too large", subject)
	}
	if err := json.Unmarshal(msg.Data, out); err != nil {
		return fmt.Errorf("request %s: %w", subject, err)
	}
	return nil
}
