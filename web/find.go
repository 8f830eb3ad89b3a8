package web

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/i18n"
	"github.com/reserva/reserva/internal/ratelimit"
	"github.com/reserva/reserva/tenancy"
)

// findBusinessesWait bounds the look-up of "sign in to your business" across every business.
const findBusinessesWait = 30 * time.Second

// findTurnWait bounds how long a "sign in to your business" request waits for the look-up that
// is running: one look-up opens every business, so only one runs at a time, whatever the number
// of client addresses asking (the per-address limit alone would let many addresses open every
// business file at once).
const findTurnWait = 5 * time.Second

// findBusinesses answers "sign in to your business" on the platform's home page: the email is
// sent the list of businesses where it has a dashboard account, with their sign-in links. The
// answer on screen is the same whether or not the address is known (no account enumeration),
// and the requests of one address are rate-limited.
func (s *Server) findBusinesses(w http.ResponseWriter, r *http.Request) {
	if !s.readForm(w, r) {
		return
	}
	email := strings.ToLower(strings.TrimSpace(r.PostForm.Get("email")))
	if len(email) > domain.MaxEmailLen || strings.Count(email, "@") != 1 || strings.HasPrefix(email, "@") || strings.HasSuffix(email, "@") {
		render(w, r, http.StatusUnprocessableEntity, platformHomePage("", tr(r.Context(), "platform.find_invalid")))
		return
	}
	if ip := clientIP(r); !s.findLimit.Allow(ip) {
		wait := s.findLimit.RetryAfter(ip)
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.Seconds(wait)))
		render(w, r, http.StatusTooManyRequests, platformHomePage("",
			tr(r.Context(), "platform.find_too_many", map[string]any{"Wait": i18n.From(r.Context()).Wait(wait)})))
		return
	}
	if !s.findTurn(r.Context(), findTurnWait) {
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.Seconds(findTurnWait)))
		render(w, r, http.StatusTooManyRequests, platformHomePage("",
			tr(r.Context(), "platform.find_too_many", map[string]any{"Wait": i18n.From(r.Context()).Wait(findTurnWait)})))
		return
	}
	defer func() { <-s.findOne }()
	ctx, cancel := context.WithTimeout(r.Context(), findBusinessesWait)
	defer cancel()
	if err := s.mailBusinessList(ctx, email); err != nil {
		s.serverError(w, r, err)
		return
	}
	// Post-redirect-get: reloading the answer sends no second mail.
	http.Redirect(w, r, "/?msg=find-sent", http.StatusSeeOther)
}

// findTurn waits at most wait for the one look-up slot; true: the caller holds it and must give
// it back (<-s.findOne).
func (s *Server) findTurn(ctx context.Context, wait time.Duration) bool {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case s.findOne <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// mailBusinessList looks for email among the users of every business and, when it has any
// account, queues the list in the outbox of the first business found. In a cluster,
// FindBusinesses does it across the nodes.
func (s *Server) mailBusinessList(ctx context.Context, email string) error {
	if s.FindBusinesses != nil {
		return s.FindBusinesses(ctx, email)
	}
	found, err := FindAccounts(ctx, s.Tenants, email, s.Log)
	if err != nil || len(found) == 0 {
		return err
	}
	return MailAccountList(ctx, s.Tenants, found[0], email, found)
}

// FindAccounts returns the active businesses of tenants' registry (in a cluster, those this
// node serves) where email has a dashboard account. A business that cannot be read is logged
// and skipped: it must not hide the others.
func FindAccounts(ctx context.Context, tenants *tenancy.Manager, email string, log *slog.Logger) ([]tenancy.Tenant, error) {
	all, err := tenants.Registry().List(ctx)
	if err != nil {
		return nil, err
	}
	var found []tenancy.Tenant
	for _, t := range all {
		if t.Status != tenancy.TenantActive {
			continue
		}
		err := tenants.Visit(ctx, t, func(l *tenancy.Lease) error {
			ok, err := domain.NewStore(l.DB.Write, l.DB.Read, l.Location, time.Now).HasUser(ctx, email)
			if ok {
				found = append(found, t)
			}
			return err
		})
		if err != nil {
			log.ErrorContext(ctx, "sign in to your business: look up a user", "tenant", t.ID, "err", err)
		}
	}
	return found, nil
}

// MailAccountList queues, in the outbox of business from, the mail to email listing its
// businesses found, with their sign-in links.
func MailAccountList(ctx context.Context, tenants *tenancy.Manager, from tenancy.Tenant, email string, found []tenancy.Tenant) error {
	list := make([]domain.BusinessLink, len(found))
	for i, t := range found {
		list[i] = domain.BusinessLink{Name: t.Name, Slug: t.Slug}
	}
	return tenants.Visit(ctx, from, func(l *tenancy.Lease) error {
		return domain.NewStore(l.DB.Write, l.DB.Read, l.Location, time.Now).QueueBusinessList(ctx, email, list)
	})
}
