package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reserva/reserva/cluster"
	"github.com/reserva/reserva/internal/metrics"
)

// Where new businesses go, and how a node stops taking them.
//
// A sign-up is served by the rendezvous choice, keyed by the address the visitor asked for,
// among the live nodes that serve businesses and are not draining: every node picks the same
// one, and new businesses spread over the nodes instead of piling up on the controller. The
// chosen node makes the business's file from its own spares, registers it through the
// controller (clusterRegistry.Create, which has the last word on the slug) and claims it in
// epoch 1 (claimNew).
//
// `reserva cluster drain --node N` asks N, on its own subject, to advertise that it is draining
// (so that no node picks it for a new business, a hand-over or a move), and then to hand every
// business it holds to the others, as SIGTERM does, while it keeps running. --resume ends it.
const (
	drainSubject = "reserva.drain." // + the node's id
	// maxSignupKey bounds what the placement reads of a sign-up's body to find its address
	// (the form is a few hundred bytes; the rest of a longer body is left for the handler).
	maxSignupKey = 16 << 10
)

// signupNode returns the node that takes sign-up r ("" when it is this one). A sign-up another
// node sent here is served here: it chose this node, and a second opinion from a view of the
// live nodes a moment different would only bounce it back (421).
func (m *clusterMember) signupNode(r *http.Request, co cluster.Coordinator) (string, error) {
	if r.Header.Get(cluster.ForwardedHeader) != "" {
		return "", nil
	}
	live, err := co.Liveness().Live(r.Context())
	if err != nil {
		return "", fmt.Errorf("sign up: the live nodes are unknown: %w", err)
	}
	if n := signupTarget(signupKey(r), m.self.Schema, live); n != m.self.ID {
		return n, nil // "" when no node qualifies: served here
	}
	return "", nil
}

// signupTarget is the node, among live, that takes the sign-up of key (the slug asked for):
// one that serves businesses, is not draining and knows schema (the sending node's), by
// rendezvous hashing.
func signupTarget(key string, schema int, live []cluster.NodeInfo) string {
	return nodeForSchema("signup:"+key, schema, live)
}

// signupKey is the address a sign-up asks for (its slug field, or its name when the slug is
// left to be suggested), read from the start of r's body, which is left whole for the handler.
// Any key spreads sign-ups alike: a body that cannot be read gives "".
func signupKey(r *http.Request) string {
	if r.Body == nil || r.Body == http.NoBody {
		return ""
	}
	head, err := io.ReadAll(io.LimitReader(r.Body, maxSignupKey))
	r.Body = readCloser{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
	if err != nil {
		return ""
	}
	q, _ := url.ParseQuery(string(head)) // what parsed before a bad pair is enough
	key := strings.TrimSpace(q.Get("slug"))
	if key == "" {
		key = strings.TrimSpace(q.Get("name"))
	}
	return strings.ToLower(key)
}

type readCloser struct {
	io.Reader
	io.Closer
}

// creating marks business id as being created here until the returned function is called.
func (m *clusterMember) creating(id string) (done func()) {
	m.mu.Lock()
	if m.making == nil {
		m.making = map[string]bool{}
	}
	m.making[id] = true
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		delete(m.making, id)
		m.mu.Unlock()
	}
}

// holds says whether this node serves business id now (claimed in this run, not fenced since).
func (m *clusterMember) holds(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.holdsLocked(id)
}

// holdsLocked is holds with m.mu held.
func (m *clusterMember) holdsLocked(id string) bool {
	_, ok := m.held[id]
	return ok && !m.fenced[id]
}

// drainRequest asks a node to drain (or, with Resume, to take businesses again).
type drainRequest struct {
	Resume bool `json:"resume,omitempty"`
}

// drainReply is what a drain did.
type drainReply struct {
	HandedOver int           `json:"handed_over"`
	Held       int           `json:"held"` // businesses the node held when the drain began
	Took       time.Duration `json:"took"`
	Err        string        `json:"error,omitempty"`
}

// serveDrains answers drain requests for this node on nc until it closes.
func (m *clusterMember) serveDrains(nc *nats.Conn) error {
	_, err := nc.Subscribe(drainSubject+m.self.ID, func(msg *nats.Msg) {
		ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		defer cancel()
		rep := m.drainOnRequest(ctx, msg.Data)
		if rep.Err != "" {
			m.log.Warn("drain on request", "node", m.self.ID, "err", rep.Err)
		}
		b, _ := json.Marshal(rep) // numbers and a string always marshal
		if err := msg.Respond(b); err != nil {
			m.log.Warn("answer a drain", "node", m.self.ID, "err", err)
		}
	})
	if err != nil {
		return fmt.Errorf("listen for drains: %w", err)
	}
	return nil
}

// drainTimeout bounds a drain on request (each business's hand-over is bounded on its own).
const drainTimeout = 5 * time.Minute

func (m *clusterMember) drainOnRequest(ctx context.Context, data []byte) drainReply {
	var req drainRequest
	if len(data) > maxMoveMessage || json.Unmarshal(data, &req) != nil {
		return drainReply{Err: "the request is not a drain"}
	}
	co := m.coordinator()
	if co == nil {
		return drainReply{Err: "node " + m.self.ID + " has not joined the cluster yet"}
	}
	m.mu.Lock()
	held := len(m.held)
	m.mu.Unlock()
	if req.Resume {
		if err := co.Liveness().SetDraining(ctx, false); err != nil {
			return drainReply{Err: err.Error()}
		}
		m.resumeAdopting(co)
		m.log.InfoContext(ctx, "takes businesses again", "node", m.self.ID)
		return drainReply{Held: held}
	}
	start := time.Now()
	n := m.drain(ctx)
	return drainReply{HandedOver: n, Held: held, Took: time.Since(start)}
}

// totals are this node's figures for /metrics.
func (m *clusterMember) totals() metrics.ClusterTotals {
	m.mu.Lock()
	t := metrics.ClusterTotals{Fenced: len(m.fenced), Controller: m.term != 0, Draining: m.adoption.draining,
		Claims: m.claimed.Load(), HandedOver: m.handedOver.Load(), NodesServing: -1}
	for id := range m.held {
		if m.holdsLocked(id) {
			t.Held++
		}
	}
	m.mu.Unlock()
	if co := m.coordinator(); co != nil {
		if live, err := co.Liveness().Live(context.Background()); err == nil {
			t.NodesServing = 0
			for _, n := range live {
				if n.HTTP != "" {
					t.NodesServing++
				}
			}
		}
	}
	return t
}
