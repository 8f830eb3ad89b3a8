package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/reserva/reserva/cluster"
	"github.com/reserva/reserva/replica"
	"github.com/reserva/reserva/tenancy"
)

// One registry for the whole cluster (issue #23). The elected controller (cluster.Campaign)
// owns it: it restores it from the replica when it takes office, replicates it under its
// term's epoch (fenced in the store like a business), applies every registry write, and
// publishes each business's record to the route map. Every other node keeps a copy of the
// registry fed by the route map (so lookups work as on a single node), never replicates it,
// and sends its registry writes to the controller over NATS (request and reply on
// registrySubject), applying the controller's answer to its copy at once.

// registrySubject is where the controller answers registry writes, and reads of the records
// only its registry holds whole (backups).
const registrySubject = "reserva.registry"

// maxRegistryOp bounds a registry write's message (a tenant record is well under 1 KiB).
const maxRegistryOp = 64 << 10

// registryCallTimeout bounds a registry write sent to the controller (it waits for the
// replica, one sync).
const registryCallTimeout = 10 * time.Second

// errRegistryFenced is the registry's write rule once a later controller has claimed it.
var errRegistryFenced = fmt.Errorf("this node is no longer the cluster's controller: another node claimed the registry (%w)", tenancy.ErrUnavailable)

// errNoController is a registry write that found no controller to take it.
var errNoController = fmt.Errorf("the cluster has no controller at the moment; try again in a few seconds (%w)", tenancy.ErrUnavailable)

// Registry operations sent to the controller.
const (
	opCreate     = "create"
	opRename     = "rename"
	opTimezone   = "timezone"
	opSetHost    = "set-host"
	opRemoveHost = "remove-host"
	opDelete     = "delete"
	opSchema     = "schema"
	// A business's backups and daily counts are written by its owner, which changes with a
	// failover or a move: they are the controller's records too, or the next owner would
	// neither list (nor restore, nor prune) the backups its predecessor made.
	opAddBackup    = "add-backup"
	opDeleteBackup = "delete-backup"
	opStats        = "stats"
	// opBackups reads a business's backups from the controller's registry.
	opBackups = "backups"
)

// registryOp is one registry write.
type registryOp struct {
	Op        string              `json:"op"`
	Tenant    *tenancy.Tenant     `json:"tenant,omitempty"` // create
	FromSpare bool                `json:"from_spare,omitempty"`
	ID        string              `json:"id,omitempty"`
	Slug      string              `json:"slug,omitempty"`
	Host      string              `json:"host,omitempty"`
	Timezone  string              `json:"timezone,omitempty"`
	Version   int                 `json:"version,omitempty"`
	Status    string              `json:"status,omitempty"`
	LastError string              `json:"last_error,omitempty"`
	Backup    *tenancy.Backup     `json:"backup,omitempty"` // add-backup
	Stats     *tenancy.DailyStats `json:"stats,omitempty"`  // stats
}

// recordOnly says whether op writes a record of a business (its backups, its counts) and not
// the business itself: nothing to publish to the route map or to apply to a node's copy.
func (op registryOp) recordOnly() bool {
	return op.Op == opAddBackup || op.Op == opDeleteBackup || op.Op == opStats || op.Op == opBackups
}

func (op registryOp) tenantID() string {
	if op.Tenant != nil {
		return op.Tenant.ID
	}
	return op.ID
}

// validate checks what a node sent: the controller applies only what a Manager would have
// let through.
func (op registryOp) validate() error {
	switch op.Op {
	case opCreate:
		if op.Tenant == nil {
			return errors.New("create: no tenant")
		}
		if err := tenancy.ValidateSlug(op.Tenant.Slug); err != nil {
			return err
		}
		return (tenancy.NewTenant{Slug: op.Tenant.Slug, Name: op.Tenant.Name, Timezone: op.Tenant.Timezone}).Validate()
	case opRename:
		return tenancy.ValidateSlug(op.Slug)
	case opTimezone:
		return tenancy.ValidateTimezone(op.Timezone)
	case opSetHost, opRemoveHost:
		if op.Host == "" || len(op.Host) > cluster.MaxRouteName {
			return fmt.Errorf("host of %d bytes", len(op.Host))
		}
	case opAddBackup:
		if op.Backup == nil || op.Backup.ID == "" || op.Backup.TenantID == "" || op.Backup.Key == "" {
			return errors.New("add-backup: no backup, or one without id, business or key")
		}
	case opStats:
		if op.Stats == nil || op.Stats.TenantID == "" || op.Stats.Day == "" {
			return errors.New("stats: no counts, or counts without business or day")
		}
	case opDeleteBackup, opBackups:
		if op.ID == "" {
			return fmt.Errorf("%s: no id", op.Op)
		}
	}
	return nil
}

// apply runs op on reg.
func (op registryOp) apply(ctx context.Context, reg *tenancy.SQLiteRegistry) error {
	switch op.Op {
	case opCreate:
		if op.Tenant == nil {
			return errors.New("create: no tenant")
		}
		return reg.Create(ctx, *op.Tenant, op.FromSpare)
	case opRename:
		return reg.Rename(ctx, op.ID, op.Slug)
	case opTimezone:
		return reg.SetTimezone(ctx, op.ID, op.Timezone)
	case opSetHost:
		return reg.SetHost(ctx, op.Host, op.ID)
	case opRemoveHost:
		return reg.RemoveHost(ctx, op.Host, op.ID)
	case opDelete:
		return reg.Delete(ctx, op.ID)
	case opSchema:
		return reg.SetSchema(ctx, op.ID, op.Version, op.Status, op.LastError)
	case opAddBackup:
		if op.Backup == nil {
			return errors.New("add-backup: no backup")
		}
		return reg.AddBackup(ctx, *op.Backup)
	case opDeleteBackup:
		return reg.DeleteBackup(ctx, op.ID)
	case opStats:
		if op.Stats == nil {
			return errors.New("stats: no counts")
		}
		return reg.SetStats(ctx, *op.Stats)
	}
	return fmt.Errorf("unknown registry operation %q", op.Op)
}

// registryReply is the controller's answer: the tenant's record after the write (Gone: it no
// longer exists), or the error, with Code for the ones callers tell apart.
type registryReply struct {
	Record *tenancy.TenantRecord `json:"record,omitempty"`
	Gone   bool                  `json:"gone,omitempty"`
	Code   string                `json:"code,omitempty"`
	Err    string                `json:"err,omitempty"`
	// Backups answers opBackups.
	Backups []tenancy.Backup `json:"backups,omitempty"`
}

var registryCodes = map[string]error{
	"slug_taken":  tenancy.ErrSlugTaken,
	"host_taken":  tenancy.ErrHostTaken,
	"not_found":   tenancy.ErrNotFound,
	"spare_taken": tenancy.ErrSpareTaken,
}

func (rep *registryReply) setError(err error) {
	rep.Err = err.Error()
	for code, e := range registryCodes {
		if errors.Is(err, e) {
			rep.Code = code
		}
	}
}

func (rep registryReply) error() error {
	if rep.Err == "" {
		return nil
	}
	if e, ok := registryCodes[rep.Code]; ok {
		return fmt.Errorf("%w (the cluster's controller: %s)", e, rep.Err)
	}
	return fmt.Errorf("the cluster's controller: %s", rep.Err)
}

// clusterRegistry is the registry of a cluster node (tenancy.Config's registry): reads from
// this node's copy, writes through the controller (clusterMember.registryWrite). Before the
// node has joined (member returns nil: the demo business of a new data directory) it writes
// its copy directly.
type clusterRegistry struct {
	*tenancy.SQLiteRegistry
	member func() *clusterMember
}

func (r clusterRegistry) write(ctx context.Context, op registryOp) error {
	if m := r.member(); m != nil {
		return m.registryWrite(ctx, op)
	}
	return op.apply(ctx, r.SQLiteRegistry)
}

func (r clusterRegistry) Create(ctx context.Context, t tenancy.Tenant, fromSpare bool) error {
	return r.write(ctx, registryOp{Op: opCreate, Tenant: &t, FromSpare: fromSpare})
}

func (r clusterRegistry) Rename(ctx context.Context, id, slug string) error {
	return r.write(ctx, registryOp{Op: opRename, ID: id, Slug: slug})
}

func (r clusterRegistry) SetTimezone(ctx context.Context, id, tz string) error {
	return r.write(ctx, registryOp{Op: opTimezone, ID: id, Timezone: tz})
}

func (r clusterRegistry) SetHost(ctx context.Context, host, id string) error {
	return r.write(ctx, registryOp{Op: opSetHost, ID: id, Host: host})
}

func (r clusterRegistry) RemoveHost(ctx context.Context, host, id string) error {
	return r.write(ctx, registryOp{Op: opRemoveHost, ID: id, Host: host})
}

func (r clusterRegistry) Delete(ctx context.Context, id string) error {
	return r.write(ctx, registryOp{Op: opDelete, ID: id})
}

func (r clusterRegistry) SetSchema(ctx context.Context, id string, version int, status, lastErr string) error {
	return r.write(ctx, registryOp{Op: opSchema, ID: id, Version: version, Status: status, LastError: lastErr})
}

func (r clusterRegistry) AddBackup(ctx context.Context, b tenancy.Backup) error {
	return r.write(ctx, registryOp{Op: opAddBackup, Backup: &b})
}

func (r clusterRegistry) DeleteBackup(ctx context.Context, id string) error {
	return r.write(ctx, registryOp{Op: opDeleteBackup, ID: id})
}

func (r clusterRegistry) SetStats(ctx context.Context, st tenancy.DailyStats) error {
	return r.write(ctx, registryOp{Op: opStats, Stats: &st})
}

// Backups reads a business's backups from the controller's registry, which has them all,
// whichever node made them.
func (r clusterRegistry) Backups(ctx context.Context, tenantID string) ([]tenancy.Backup, error) {
	m := r.member()
	if m == nil || m.leading() != 0 {
		return r.SQLiteRegistry.Backups(ctx, tenantID)
	}
	rep, err := m.askController(ctx, registryOp{Op: opBackups, ID: tenantID})
	return rep.Backups, err
}

// List returns, once the node has joined, only the businesses this node owns (holds an epoch
// of): the jobs (mail, reminders, backups, stats) and the "find my business" look-up open
// every business List returns, and a node that opened a business it does not own would write
// to it outside the write rule. Before the node joins (start-up checks) it returns all.
func (r clusterRegistry) List(ctx context.Context) ([]tenancy.Tenant, error) {
	all, err := r.SQLiteRegistry.List(ctx)
	m := r.member()
	if err != nil || m == nil {
		return all, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	owned := all[:0]
	for _, t := range all {
		if m.holdsLocked(t.ID) {
			owned = append(owned, t)
		}
	}
	return owned, nil
}

var _ tenancy.Registry = clusterRegistry{}

// leading returns the controller epoch this node serves in, 0 when it is not the controller.
func (m *clusterMember) leading() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.term
}

// registryWrite applies op: here when this node is the controller, otherwise at the
// controller, and then to this node's copy, so that this node reads its own write at once.
func (m *clusterMember) registryWrite(ctx context.Context, op registryOp) error {
	if op.Op == opCreate && op.Tenant != nil {
		// From its registration to its claim in epoch 1 (claimNew) the new business is placed
		// on this node but not held: neither adoption nor a request may take it for one placed
		// here before a restart, and claim it again over its half-made copy.
		defer m.creating(op.Tenant.ID)()
	}
	if m.leading() != 0 {
		rep := m.commitRegistry(ctx, op)
		if err := rep.error(); err != nil {
			return err
		}
		if op.Op == opCreate {
			m.claimNew(ctx, *op.Tenant)
		}
		return nil
	}
	fromSpare := op.FromSpare
	op.FromSpare = false // the spare is this node's file, unknown to the controller's registry
	rep, err := m.askController(ctx, op)
	if err != nil || op.recordOnly() {
		return err
	}
	m.mirrorMu.Lock()
	defer m.mirrorMu.Unlock()
	switch {
	case rep.Gone:
		err = m.reg.Forget(ctx, op.tenantID())
	case rep.Record != nil:
		err = m.reg.ApplyRecord(ctx, *rep.Record)
	}
	if err == nil && fromSpare {
		_, err = m.reg.RemoveSpare(ctx, op.tenantID())
	}
	if err != nil {
		// Done at the controller; this node's copy follows the route map shortly.
		m.log.WarnContext(ctx, "apply a registry write to this node's copy", "op", op.Op, "tenant", op.tenantID(), "err", err)
	}
	if op.Op == opCreate {
		m.claimNew(ctx, *op.Tenant)
	}
	return nil
}

// askController sends op to the controller and returns its answer (an error when it refused
// op: the answer's error).
func (m *clusterMember) askController(ctx context.Context, op registryOp) (registryReply, error) {
	var rep registryReply
	data, err := json.Marshal(op)
	if err != nil {
		return rep, fmt.Errorf("registry %s: %w", op.Op, err)
	}
	cctx, cancel := context.WithTimeout(ctx, registryCallTimeout)
	defer cancel()
	msg, err := m.nc.RequestWithContext(cctx, registrySubject, data)
	if errors.Is(err, nats.ErrNoResponders) {
		return rep, fmt.Errorf("registry %s: %w", op.Op, errNoController)
	}
	if err != nil {
		return rep, fmt.Errorf("registry %s: ask the cluster's controller (the outcome is unknown): %w", op.Op, err)
	}
	if len(msg.Data) > maxRegistryOp {
		return rep, fmt.Errorf("registry %s: the controller's answer is %d bytes", op.Op, len(msg.Data))
	}
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		return rep, fmt.Errorf("registry %s: read the controller's answer: %w", op.Op, err)
	}
	if err := rep.error(); err != nil {
		return rep, fmt.Errorf("registry %s: %w", op.Op, err)
	}
	return rep, nil
}

// claimNewWait bounds how long claimNew tries again while placement cannot tell, and
// claimNewPause is its pause between tries.
const (
	claimNewWait  = 3 * time.Second
	claimNewPause = 200 * time.Millisecond
)

// claimNew makes this node, which holds the file of business t it just created, its owner in
// epoch 1 (placement compare-and-set, then the epoch's marker), so that it is served, and its
// jobs run, here. Any failure leaves t unplaced: the node its first request reaches claims it
// then, restoring the file from the replica.
func (m *clusterMember) claimNew(ctx context.Context, t tenancy.Tenant) {
	co := m.coordinator()
	if co == nil {
		return
	}
	next := cluster.Owner{Node: m.self.ID, Epoch: 1}
	err := co.Placement().CompareAndSwap(ctx, t.ID, cluster.Owner{}, next)
	for wait := time.Now().Add(claimNewWait); errors.Is(err, cluster.ErrUnknown) && time.Now().Before(wait); {
		// The placement bucket could not tell (its leader being elected or moved: a second or
		// two, often right after the cluster formed): try again while the sign-up waits, rather
		// than leave the business to adoption, up to adoptEvery later. The write that could not
		// tell may have been made: then the business is already ours.
		select {
		case <-time.After(claimNewPause):
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		err = co.Placement().CompareAndSwap(ctx, t.ID, cluster.Owner{}, next)
		if errors.Is(err, cluster.ErrStale) {
			if own, rerr := co.Placement().Refresh(ctx, t.ID); rerr == nil && own == next {
				err = nil
			}
		}
	}
	if err == nil {
		err = m.rep.CreateMarker(ctx, replica.EpochMarker(t.ID, next.Epoch))
	}
	if err != nil {
		m.log.WarnContext(ctx, "claim a new business; its first request claims it", "tenant", t.Slug, "err", err)
		return
	}
	m.mu.Lock()
	m.held[t.ID] = next.Epoch
	m.mu.Unlock()
	m.claimed.Add(1)
	// The line of every claim (the cluster proof reads claims from the logs).
	m.log.InfoContext(ctx, "claimed a business", "tenant", t.Slug, "node", next.Node, "epoch", next.Epoch, "new", true)
}

// commitRegistry is the controller's registry write: applied, in the replica (whose sync
// checks the registry's fence), then published to the route map.
func (m *clusterMember) commitRegistry(ctx context.Context, op registryOp) (rep registryReply) {
	m.opMu.Lock()
	before, berr := m.reg.ChangeCounter(ctx)
	err := op.apply(ctx, m.reg)
	after, aerr := m.reg.ChangeCounter(ctx)
	m.opMu.Unlock()
	if err != nil {
		rep.setError(err)
		return rep
	}
	if berr == nil && aerr == nil {
		// This write's own change is published below: followRegistry need not look for
		// another process's (unless one came before it).
		m.mu.Lock()
		if m.published == before {
			m.published = after
		}
		m.mu.Unlock()
	}
	if err := m.reg.Sync(ctx); err != nil {
		rep.setError(fmt.Errorf("registry %s: replicate it (the outcome is unknown): %w", op.Op, err))
		return rep
	}
	if op.recordOnly() {
		return rep
	}
	id := op.tenantID()
	rec, err := m.reg.Record(ctx, id)
	switch {
	case errors.Is(err, tenancy.ErrNotFound):
		rep.Gone = true
	case err != nil:
		m.log.ErrorContext(ctx, "read a tenant's record after a registry write", "tenant", id, "err", err)
	default:
		rep.Record = &rec
	}
	if co := m.coordinator(); co != nil {
		if err := m.publish(ctx, co, id); err != nil {
			m.log.ErrorContext(ctx, "publish a tenant's record; published again shortly", "tenant", id, "err", err)
			m.setRepublish()
		}
	}
	return rep
}

// serveRegistry answers a registry write sent to the controller.
func (m *clusterMember) serveRegistry(msg *nats.Msg) {
	var rep registryReply
	var op registryOp
	switch {
	case len(msg.Data) > maxRegistryOp:
		rep.setError(fmt.Errorf("a registry write of %d bytes; at most %d", len(msg.Data), maxRegistryOp))
	case json.Unmarshal(msg.Data, &op) != nil:
		rep.setError(errors.New("a registry write that is not JSON"))
	case m.leading() == 0:
		rep.setError(errNoController)
	case op.validate() != nil:
		rep.setError(fmt.Errorf("registry %s: %w", op.Op, op.validate()))
	case op.Op == opBackups:
		ctx, cancel := context.WithTimeout(context.Background(), registryCallTimeout)
		list, err := m.reg.Backups(ctx, op.ID)
		cancel()
		if err != nil {
			rep.setError(err)
		}
		rep.Backups = list
	default:
		ctx, cancel := context.WithTimeout(context.Background(), registryCallTimeout)
		rep = m.commitRegistry(ctx, op)
		cancel()
	}
	data, err := json.Marshal(rep)
	if err == nil {
		err = msg.Respond(data)
	}
	if err != nil {
		m.log.Warn("answer a registry write", "op", op.Op, "err", err)
	}
}

// normRecord is rec as published: without this node's last-seen time, times in UTC.
func normRecord(rec tenancy.TenantRecord) tenancy.TenantRecord {
	rec.Tenant.LastSeenAt = time.Time{}
	rec.Tenant.CreatedAt = rec.Tenant.CreatedAt.UTC()
	return rec
}

func sameRecord(a, b tenancy.TenantRecord) bool {
	ja, erra := json.Marshal(normRecord(a))
	jb, errb := json.Marshal(normRecord(b))
	return erra == nil && errb == nil && string(ja) == string(jb)
}

// publish makes the route map say what this node's registry says of tenant id: its record,
// and the routes of its slug, old slugs and hosts; routes it no longer has are removed (only
// while they still lead to it: another business may hold them now).
func (m *clusterMember) publish(ctx context.Context, co cluster.Coordinator, id string) error {
	m.pubMu.Lock()
	defer m.pubMu.Unlock()
	routes := co.Routes()
	var prev *tenancy.TenantRecord // what the map says now (a lookup in memory)
	switch rt, err := routes.Lookup(ctx, cluster.RouteTenant, id); {
	case err == nil && rt.Record != nil:
		prev = rt.Record
	case err != nil && !errors.Is(err, cluster.ErrNotFound):
		return fmt.Errorf("publish tenant %s: %w", id, err)
	}
	cur, err := m.reg.Record(ctx, id)
	gone := errors.Is(err, tenancy.ErrNotFound)
	if err != nil && !gone {
		return fmt.Errorf("publish tenant %s: %w", id, err)
	}
	keep := map[string]bool{}
	if !gone {
		cur = normRecord(cur)
		rt := cluster.Route{TenantID: id, Slug: cur.Tenant.Slug, Status: cur.Tenant.Status, Schema: cur.Tenant.SchemaVersion}
		put := func(kind cluster.RouteKind, name string, r cluster.Route) error {
			keep[string(kind)+name] = true
			return routes.Put(ctx, kind, name, r)
		}
		for _, s := range append([]string{cur.Tenant.Slug}, cur.OldSlugs...) {
			if err := put(cluster.RouteSlug, s, rt); err != nil {
				return fmt.Errorf("publish tenant %s: %w", id, err)
			}
		}
		for _, h := range cur.Hosts {
			if err := put(cluster.RouteHost, h, rt); err != nil {
				return fmt.Errorf("publish tenant %s: %w", id, err)
			}
		}
		full := rt
		full.Record = &cur
		if err := put(cluster.RouteTenant, id, full); err != nil {
			return fmt.Errorf("publish tenant %s: %w", id, err)
		}
	}
	if prev == nil {
		return nil
	}
	drop := func(kind cluster.RouteKind, name string) error {
		if keep[string(kind)+name] {
			return nil
		}
		if rt, err := routes.Lookup(ctx, kind, name); err != nil || rt.TenantID != id {
			return nil // gone already, or another business's now
		}
		return routes.Delete(ctx, kind, name)
	}
	var errs []error
	for _, s := range append([]string{prev.Tenant.Slug}, prev.OldSlugs...) {
		errs = append(errs, drop(cluster.RouteSlug, s))
	}
	for _, h := range prev.Hosts {
		errs = append(errs, drop(cluster.RouteHost, h))
	}
	if gone {
		errs = append(errs, drop(cluster.RouteTenant, id))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("publish tenant %s: %w", id, err)
	}
	return nil
}

// publishAll makes the route map's records those of this node's registry (a controller that
// just took office, or after a failed publish).
func (m *clusterMember) publishAll(ctx context.Context, co cluster.Coordinator) error {
	recs, err := co.Routes().Records(ctx)
	if err != nil {
		return fmt.Errorf("publish the registry: %w", err)
	}
	ts, err := m.reg.List(ctx)
	if err != nil {
		return fmt.Errorf("publish the registry: %w", err)
	}
	var errs []error
	for _, t := range ts {
		cur, err := m.reg.Record(ctx, t.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, ok := recs[t.ID]; ok && sameRecord(prev, cur) {
			delete(recs, t.ID)
			continue
		}
		delete(recs, t.ID)
		errs = append(errs, m.publish(ctx, co, t.ID))
	}
	for id := range recs { // in the map, not in the registry: deleted
		errs = append(errs, m.publish(ctx, co, id))
	}
	return errors.Join(errs...)
}

func (m *clusterMember) setRepublish() {
	m.mu.Lock()
	m.republish = true
	m.mu.Unlock()
}

// applyRecords makes this node's copy of the registry follow the route map (nothing to do on
// the controller, whose registry the map is made from). A business this node has in its copy
// but the map never named stays: only what the map removes is removed.
func (m *clusterMember) applyRecords(ctx context.Context, co cluster.Coordinator) {
	m.mirrorMu.Lock()
	defer m.mirrorMu.Unlock()
	if m.leading() != 0 {
		return
	}
	recs, err := co.Routes().Records(ctx)
	if err != nil {
		return // not current: the next change tries again
	}
	for id, rec := range recs {
		if prev, ok := m.applied[id]; ok && sameRecord(prev, rec) {
			continue
		}
		if err := m.reg.ApplyRecord(ctx, rec); err != nil {
			m.log.ErrorContext(ctx, "apply a business's record to this node's registry", "tenant", rec.Tenant.Slug, "err", err)
			continue
		}
		m.applied[id] = rec
	}
	for id := range m.applied {
		if _, ok := recs[id]; ok {
			continue
		}
		if err := m.reg.Forget(ctx, id); err != nil {
			m.log.ErrorContext(ctx, "remove a deleted business from this node's registry", "tenant", id, "err", err)
			continue
		}
		delete(m.applied, id)
	}
}

// followRegistry keeps this node's copy of the registry in step with the route map, and, on
// the controller, publishes again what a failed publish left out, until ctx ends.
//
// The controller also publishes a change made to its registry by another process (reserva
// tenants rename or host on its data directory): the registry's change counter moved without
// a write of its own.
func (m *clusterMember) followRegistry(ctx context.Context, co cluster.Coordinator) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var applied time.Time
	changed := true
	for {
		ch := co.Routes().Changed()
		if changed || time.Since(applied) >= 5*time.Second {
			m.applyRecords(ctx, co)
			applied = time.Now()
		}
		m.mu.Lock()
		again := m.republish && m.term != 0
		m.republish = false
		leading, published := m.term != 0, m.published
		m.mu.Unlock()
		rev, rerr := m.reg.ChangeCounter(ctx)
		if leading && (again || rerr == nil && rev != published) {
			if err := m.publishAll(ctx, co); err != nil {
				m.log.Error("publish the registry to the route map", "err", err)
				m.setRepublish()
			} else if rerr == nil {
				m.mu.Lock()
				m.published = rev
				m.mu.Unlock()
			}
		}
		changed = false
		select {
		case <-ctx.Done():
			return
		case <-ch:
			changed = true
		case <-t.C:
		}
	}
}

// lead takes office as the cluster's controller in term: the hard fence first (the epoch's
// marker, created once: losing it means another node got the epoch), then the registry as the
// replica holds it (the newest epoch with a copy, walking back over epochs whose controller
// died before its first sync), replicated into this term's own chain and synced once, and
// only then registry writes are served and every record published.
func (m *clusterMember) lead(ctx context.Context, co cluster.Coordinator, term cluster.Owner) error {
	if err := m.rep.CreateMarker(ctx, replica.Marker(replica.RegistryName, term.Epoch)); err != nil {
		return fmt.Errorf("claim the registry in epoch %d: %w", term.Epoch, err)
	}
	dir, err := os.MkdirTemp(m.dataDir, ".registry-restore-")
	if err != nil {
		return fmt.Errorf("restore the registry: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }() // a scratch copy, loaded below
	restored := filepath.Join(dir, "registry.db")
	from, err := m.rep.RestoreLatestEpoch(ctx, replica.RegistryName, term.Epoch-1, restored)
	m.mirrorMu.Lock()
	defer m.mirrorMu.Unlock()
	founding := errors.Is(err, replica.ErrNotFound)
	switch {
	case founding:
		m.log.InfoContext(ctx, "the replica holds no registry yet: this node's starts the cluster's", "epoch", term.Epoch)
	case err != nil:
		return fmt.Errorf("take office in epoch %d: %w", term.Epoch, err)
	default:
		if err := m.reg.LoadFrom(ctx, restored); err != nil {
			return fmt.Errorf("take office in epoch %d: %w", term.Epoch, err)
		}
		m.log.InfoContext(ctx, "restored the registry from the replica", "from_epoch", from, "epoch", term.Epoch)
	}
	// The replicator's state beside the file describes an earlier chain, if any.
	if err := os.RemoveAll(filepath.Join(m.dataDir, ".registry.db-litestream")); err != nil {
		return fmt.Errorf("take office in epoch %d: %w", term.Epoch, err)
	}
	if err := m.reg.Replicate(ctx, registryReplicator{m: m, epoch: term.Epoch}); err != nil {
		return fmt.Errorf("take office in epoch %d: %w", term.Epoch, err)
	}
	m.mu.Lock()
	m.term = term.Epoch
	m.mu.Unlock()
	sub, err := m.nc.QueueSubscribe(registrySubject, "controller", m.serveRegistry)
	if err != nil {
		m.stepDown(term.Epoch)
		return fmt.Errorf("take office in epoch %d: answer registry writes: %w", term.Epoch, errors.Join(err, m.stopReplicating()))
	}
	m.mu.Lock()
	m.sub = sub
	m.mu.Unlock()
	clear(m.applied)
	rev, err := m.reg.ChangeCounter(ctx)
	if err == nil {
		m.mu.Lock()
		m.published = rev
		m.mu.Unlock()
	}
	if err := m.publishAll(ctx, co); err != nil {
		m.log.ErrorContext(ctx, "publish the registry to the route map; published again shortly", "err", err)
		m.setRepublish()
	}
	if founding {
		go m.adopt(ctx, co)
	}
	return nil
}

// adopt claims, in epoch 1, and ships every business the founding controller's registry held
// before the cluster had one (made on this data directory before it joined, such as a demo):
// their files are here only, and another node that claimed one first would find no copy in the
// replica. A business placed already, or one that fails here, is left to its next request.
func (m *clusterMember) adopt(ctx context.Context, co cluster.Coordinator) {
	if m.tenants == nil { // a member of the registry alone (tests): nothing of its own to ship
		return
	}
	ts, err := m.reg.List(ctx)
	if err != nil {
		m.log.WarnContext(ctx, "adopt the businesses made before the cluster", "err", err)
		return
	}
	for _, t := range ts {
		if ctx.Err() != nil {
			return
		}
		if _, err := co.Placement().Owner(ctx, t.ID); !errors.Is(err, cluster.ErrNotFound) {
			continue
		}
		if err := m.fence(ctx, t); err != nil {
			m.log.WarnContext(ctx, "adopt a business made before the cluster", "tenant", t.Slug, "err", err)
			continue
		}
		if err := m.tenants.SyncTenant(ctx, t); err != nil {
			m.log.WarnContext(ctx, "ship a business made before the cluster", "tenant", t.Slug, "err", err)
			continue
		}
		m.log.InfoContext(ctx, "adopted a business made before the cluster", "tenant", t.Slug)
	}
}

// stepDown stops serving registry writes as the controller of epoch (nothing when this node
// does not serve in it).
func (m *clusterMember) stepDown(epoch uint64) {
	m.mu.Lock()
	if m.term != epoch {
		m.mu.Unlock()
		return
	}
	m.term = 0
	sub := m.sub
	m.sub = nil
	m.mu.Unlock()
	if sub != nil {
		if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			m.log.Warn("stop answering registry writes", "err", err)
		}
	}
}

// resign ends a term (cluster.Office.Resign): no more registry writes served, the registry
// no longer replicated from here.
func (m *clusterMember) resign(term cluster.Owner) {
	m.stepDown(term.Epoch)
	m.mirrorMu.Lock()
	clear(m.applied) // this node's copy follows the new controller's records, all of them
	m.mirrorMu.Unlock()
	if err := m.stopReplicating(); err != nil {
		m.log.Warn("stop replicating the registry", "epoch", term.Epoch, "err", err)
	}
}

func (m *clusterMember) stopReplicating() error {
	ctx, cancel := context.WithTimeout(context.Background(), registryCallTimeout)
	defer cancel()
	return m.reg.StopReplicating(ctx)
}

// registryReplicator ships the registry into the chain of the controller epoch this node
// serves in, and fences it: every sync (the one before a registry write is acknowledged)
// checks afterwards that no later controller has claimed the registry.
type registryReplicator struct {
	m     *clusterMember
	epoch uint64
}

func (r registryReplicator) Attach(ctx context.Context, _, dbPath string) (tenancy.Replica, error) {
	h, err := r.m.rep.Attach(ctx, replica.EpochName(replica.RegistryName, r.epoch), dbPath)
	if err != nil {
		return nil, err
	}
	return fencedRegistry{Handle: h, m: r.m, epoch: r.epoch}, nil
}

func (r registryReplicator) Delete(context.Context, string) error {
	return errors.New("the registry is never deleted from the replica")
}

type fencedRegistry struct {
	*replica.Handle
	m     *clusterMember
	epoch uint64
}

// Sync is the registry's write rule: the replica holds everything committed, and the marker
// of the next controller epoch is absent. If it exists this node stops serving registry
// writes for good in this term; a failed check cannot tell, and the write's outcome is
// unknown.
func (f fencedRegistry) Sync(ctx context.Context) error {
	if err := f.Handle.Sync(ctx); err != nil {
		return err
	}
	exists, err := f.m.rep.MarkerExists(ctx, replica.Marker(replica.RegistryName, f.epoch+1))
	if err != nil {
		return fmt.Errorf("check the registry's fence: %w", err)
	}
	if exists {
		f.m.stepDown(f.epoch)
		f.m.log.ErrorContext(ctx, "fenced: another node claimed the registry; this node no longer takes registry writes", "epoch", f.epoch)
		return errRegistryFenced
	}
	return nil
}
