// Package graph is the GraphQL API of a tenant, served at /{slug}/graphql. Resolvers are thin:
// they translate between GraphQL and the domain and find their tenant in the request context.
package graph

//go:generate go tool gqlgen generate --config ../gqlgen.yml

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/ratelimit"
	"github.com/reserva/reserva/tenancy"
)

// Resolver is the root resolver. It holds no tenant: each request carries its own.
type Resolver struct {
	// A client (tenant + IP address) may create 10 bookings at once, then one every 6 s, and
	// fail to authenticate 10 times, then once every 6 s.
	bookingLimit *ratelimit.Limiter
	authLimit    *ratelimit.Limiter
}

func newResolver() *Resolver {
	return &Resolver{bookingLimit: ratelimit.New(ratelimit.DefaultBookingEvery, ratelimit.DefaultBookingBurst),
		authLimit: ratelimit.New(6*time.Second, 10)}
}

var errNoTenant = errors.New("graphql: no tenant in context (handler mounted outside the tenancy middleware)")

// store returns the domain store of the request's tenant.
func store(ctx context.Context) (*domain.Store, error) {
	if l := loadersFrom(ctx); l != nil {
		return l.store, nil
	}
	lease, ok := tenancy.FromContext(ctx)
	if !ok {
		return nil, errNoTenant
	}
	return domain.SharedStore(lease.DB, lease.Location), nil
}

// loaders batch the lookups that lists of bookings and slots make (no N+1). They live for one
// request, so they never serve one tenant's rows to another.
type loaders struct {
	store     *domain.Store
	longLived bool

	// The loaders are made on first use: most requests (a public availability lookup, a
	// booking) load nothing through them, and making both cost every request allocations.
	staffOnce, servicesOnce sync.Once
	staff                   *dataloadgen.Loader[int64, domain.Staff]
	services                *dataloadgen.Loader[int64, domain.Service]
}

type loadersKey struct{}

// withLoaders gives a request its loaders. A long-lived connection (websocket) gets loaders
// that batch but do not cache, so its events never show stale names nor grow without bound.
func withLoaders(ctx context.Context, s *domain.Store, longLived bool) context.Context {
	return context.WithValue(ctx, loadersKey{}, &loaders{store: s, longLived: longLived})
}

func (l *loaders) options() []dataloadgen.Option {
	opts := []dataloadgen.Option{dataloadgen.WithWait(time.Millisecond)}
	if l.longLived {
		opts = append(opts, dataloadgen.WithoutCache())
	}
	return opts
}

func (l *loaders) staffLoader() *dataloadgen.Loader[int64, domain.Staff] {
	l.staffOnce.Do(func() { l.staff = dataloadgen.NewMappedLoader(l.store.StaffByIDs, l.options()...) })
	return l.staff
}

func (l *loaders) servicesLoader() *dataloadgen.Loader[int64, domain.Service] {
	l.servicesOnce.Do(func() { l.services = dataloadgen.NewMappedLoader(l.store.ServicesByIDs, l.options()...) })
	return l.services
}

func loadersFrom(ctx context.Context) *loaders {
	l, _ := ctx.Value(loadersKey{}).(*loaders)
	return l
}

// load fetches one row through a loader, turning "missing" into a NOT_FOUND error.
func load[T any](ctx context.Context, pick func(*loaders) *dataloadgen.Loader[int64, T], id int64, what string) (*T, error) {
	l := loadersFrom(ctx)
	if l == nil {
		return nil, errNoTenant
	}
	v, err := pick(l).Load(ctx, id)
	if errors.Is(err, dataloadgen.ErrNotFound) {
		return nil, domain.Errorf(domain.ENOTFOUND, "%s %d not found", what, id)
	}
	if err != nil {
		return nil, err
	}
	return &v, nil
}

func loadStaff(ctx context.Context, id int64) (*domain.Staff, error) {
	return load(ctx, (*loaders).staffLoader, id, "staff member")
}

func loadService(ctx context.Context, id int64) (*domain.Service, error) {
	return load(ctx, (*loaders).servicesLoader, id, "service")
}
