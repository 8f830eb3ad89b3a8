package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/tenancy"
	"github.com/reserva/reserva/web"
)

// "Sign in to your business" in a cluster. A person's businesses live on several nodes, and a
// node reads only the businesses it serves (clusterRegistry.List), so the node that takes the
// request asks every node, on one subject, where the address has an account; each answers with
// the businesses it serves that have it. The list goes out in one mail, queued in the outbox of
// the first business found, by the node that serves it.
const (
	findSubject     = "reserva.find"      // every node answers
	findMailSubject = "reserva.findmail." // + the node serving the business that sends the mail
	// findAnswerWait bounds how long the asking node waits for the nodes' answers (each opens
	// every business it serves).
	findAnswerWait = 20 * time.Second
	// maxFindMatches bounds the businesses one node reports for an address.
	maxFindMatches = 500
	maxFindMessage = 256 << 10
)

type findRequest struct {
	Email string `json:"email"`
	// For a findmail request: the business whose outbox sends the list, and the list.
	TenantID string      `json:"tenant_id,omitempty"`
	List     []findMatch `json:"list,omitempty"`
}

type findMatch struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
}

type findReply struct {
	Node    string      `json:"node"`
	Matches []findMatch `json:"matches,omitempty"`
	Err     string      `json:"error,omitempty"`
}

// serveFinds answers look-ups of an address among the businesses this node serves, and
// queues a found list's mail in one of them, on nc until it closes.
func (m *clusterMember) serveFinds(nc *nats.Conn) error {
	answer := func(do func(context.Context, findRequest) findReply) nats.MsgHandler {
		return func(msg *nats.Msg) {
			var req findRequest
			rep := findReply{Node: m.self.ID}
			if len(msg.Data) > maxFindMessage || json.Unmarshal(msg.Data, &req) != nil || len(req.Email) > domain.MaxEmailLen {
				rep.Err = "the request is not a look-up of an address"
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), findAnswerWait)
				rep = do(ctx, req)
				cancel()
				rep.Node = m.self.ID
			}
			if rep.Err != "" {
				m.log.Warn("sign in to your business", "node", m.self.ID, "err", rep.Err)
			}
			b, _ := json.Marshal(rep) // strings only
			if err := msg.Respond(b); err != nil {
				m.log.Warn("answer a look-up of an address", "node", m.self.ID, "err", err)
			}
		}
	}
	if _, err := nc.Subscribe(findSubject, answer(m.findHere)); err != nil {
		return fmt.Errorf("listen for look-ups: %w", err)
	}
	if _, err := nc.Subscribe(findMailSubject+m.self.ID, answer(m.mailFound)); err != nil {
		return fmt.Errorf("listen for look-ups: %w", err)
	}
	return nil
}

// findHere lists the businesses this node serves where req.Email has an account.
func (m *clusterMember) findHere(ctx context.Context, req findRequest) findReply {
	found, err := web.FindAccounts(ctx, m.tenants, req.Email, m.log)
	if err != nil {
		return findReply{Err: err.Error()}
	}
	var rep findReply
	for _, t := range found[:min(len(found), maxFindMatches)] {
		rep.Matches = append(rep.Matches, findMatch{ID: t.ID, Slug: t.Slug, Name: t.Name})
	}
	return rep
}

// mailFound queues the list's mail in business req.TenantID, which this node serves.
func (m *clusterMember) mailFound(ctx context.Context, req findRequest) findReply {
	t, err := m.tenants.Registry().Get(ctx, req.TenantID)
	if err != nil || !m.holds(t.ID) {
		return findReply{Err: fmt.Sprintf("node %s does not serve business %s", m.self.ID, req.TenantID)}
	}
	list := make([]tenancy.Tenant, 0, len(req.List))
	for _, f := range req.List {
		list = append(list, tenancy.Tenant{ID: f.ID, Slug: f.Slug, Name: f.Name})
	}
	if err := web.MailAccountList(ctx, m.tenants, t, req.Email, list); err != nil {
		return findReply{Err: err.Error()}
	}
	return findReply{}
}

// findBusinesses is web.Server.FindBusinesses in a cluster: it asks every live node that
// serves businesses, waits for all of them (or findAnswerWait), and has the node serving the
// first business found queue the mail. A node that does not answer is logged; the list then
// holds what the others found.
func (m *clusterMember) findBusinesses(ctx context.Context, email string) error {
	co := m.coordinator()
	if co == nil {
		return fmt.Errorf("sign in to your business: this node has not joined the cluster yet: %w", tenancy.ErrUnavailable)
	}
	live, err := co.Liveness().Live(ctx)
	if err != nil {
		return fmt.Errorf("sign in to your business: the live nodes are unknown: %w (%w)", err, tenancy.ErrUnavailable)
	}
	want := map[string]bool{}
	for _, n := range live {
		if n.HTTP != "" {
			want[n.ID] = true
		}
	}
	data, err := json.Marshal(findRequest{Email: email})
	if err != nil {
		return err
	}
	inbox := m.nc.NewRespInbox()
	sub, err := m.nc.SubscribeSync(inbox)
	if err != nil {
		return fmt.Errorf("sign in to your business: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := m.nc.PublishRequest(findSubject, inbox, data); err != nil {
		return fmt.Errorf("sign in to your business: ask the nodes: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, findAnswerWait)
	defer cancel()
	var matches []findReply
	for len(want) > 0 {
		msg, err := sub.NextMsgWithContext(wctx)
		if err != nil {
			m.log.WarnContext(ctx, "sign in to your business: nodes did not answer; their businesses are left out", "nodes", slices.Sorted(maps.Keys(want)), "err", err)
			break
		}
		var rep findReply
		if len(msg.Data) > maxFindMessage || json.Unmarshal(msg.Data, &rep) != nil {
			continue
		}
		delete(want, rep.Node)
		if rep.Err != "" {
			m.log.WarnContext(ctx, "sign in to your business: a node's look-up failed", "node", rep.Node, "err", rep.Err)
			continue
		}
		if len(rep.Matches) > 0 {
			matches = append(matches, rep)
		}
	}
	if len(matches) == 0 {
		return nil
	}
	var list []findMatch
	for _, rep := range matches {
		list = append(list, rep.Matches...)
	}
	slices.SortFunc(list, func(a, b findMatch) int { return cmp.Compare(a.Slug, b.Slug) })
	// The mail goes out from the first business in the list, through the node serving it.
	var from string
	for _, rep := range matches {
		if slices.ContainsFunc(rep.Matches, func(f findMatch) bool { return f.ID == list[0].ID }) {
			from = rep.Node
		}
	}
	data, err = json.Marshal(findRequest{Email: email, TenantID: list[0].ID, List: list})
	if err != nil {
		return err
	}
	msg, err := m.nc.RequestWithContext(ctx, findMailSubject+from, data)
	if err != nil {
		return fmt.Errorf("sign in to your business: ask %s to send the list: %w (%w)", from, err, tenancy.ErrUnavailable)
	}
	var rep findReply
	if len(msg.Data) > maxFindMessage || json.Unmarshal(msg.Data, &rep) != nil {
		return fmt.Errorf("sign in to your business: %s's answer is not a look-up's", from)
	}
	if rep.Err != "" {
		return fmt.Errorf("sign in to your business: %s: %w", from, errors.New(rep.Err))
	}
	return nil
}
