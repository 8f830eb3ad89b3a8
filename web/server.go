// Package web serves Reserva's pages: the platform's own, each tenant's public booking site and
// dashboard. Every route under /{slug}/ runs below the tenant middleware (tenant.go), which
// has already given the request its turn of its business's fair share (fairshare.go),
// resolved the tenant and leased its database; handlers find both in the request context.
package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/reserva/reserva/blob"
	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/gqlerr"
	"github.com/reserva/reserva/internal/i18n"
	"github.com/reserva/reserva/internal/metrics"
	"github.com/reserva/reserva/internal/paths"
	"github.com/reserva/reserva/internal/ratelimit"
	"github.com/reserva/reserva/tenancy"
)

// Server holds what handlers need. It holds no tenant: each request carries its own.
type Server struct {
	Tenants *tenancy.Manager
	GraphQL http.Handler
	Log     *slog.Logger
	// Ready reports whether the process can serve (registry intact, scheduler running).
	Ready func(context.Context) error
	// Failed lists the businesses marked failed (a failed migration, a damaged database file):
	// /readyz names them while the process stays ready for everyone else.
	Failed func(context.Context) ([]string, error)
	// SecureCookies marks session cookies Secure: set it when clients reach Reserva over TLS.
	SecureCookies bool
	// Metrics, when set, count requests by route and are served at /metrics.
	Metrics *metrics.Metrics
	// Blobs keeps uploads (logos); nil disables them.
	Blobs blob.Store
	// FairShare bounds how many requests of one business run at once (zero: the defaults).
	FairShare FairShare
	// BodyBudget bounds the bytes of request bodies buffered at once (zero: the defaults).
	BodyBudget BodyBudget
	// TrustedProxies are the reverse proxies whose X-Forwarded-For (or Forwarded) names the
	// client; without them every request's client is its direct peer.
	TrustedProxies ratelimit.Proxies
	// Fence, in cluster mode, checks that this node owns a request's business before serving
	// it; nil (a single node) serves every business.
	Fence Fence
	// FindBusinesses, in cluster mode, answers "sign in to your business" across the nodes:
	// it finds where email has a dashboard account and queues the list's mail (nil: this
	// process's businesses, FindAccounts and MailAccountList).
	FindBusinesses func(ctx context.Context, email string) error

	sessionManagers *sessionManagers
	loginLimit      *ratelimit.Limiter // sign-in attempts per tenant and address
	accountLimit    *accountThrottle   // sign-in attempts per account, with back-off
	signupLimit     *ratelimit.Limiter // new businesses per address
	findLimit       *ratelimit.Limiter // "sign in to your business" requests per address
	findOne         chan struct{}      // the one look-up across every business that may run at once
	bookingLimit    *ratelimit.Limiter // bookings through the public form per tenant and address
}

// Handler returns the whole HTTP handler: middleware around every route.
func (s *Server) Handler() http.Handler {
	mux, _ := s.routes()
	s.sessionManagers = &sessionManagers{secure: s.SecureCookies, byID: map[string]*scs.SessionManager{}}
	s.loginLimit = ratelimit.New(6*time.Second, 10)
	s.accountLimit = newAccountThrottle(time.Now)
	s.signupLimit = ratelimit.New(10*time.Minute, 5)
	s.findLimit = ratelimit.New(time.Minute, 3)
	s.findOne = make(chan struct{}, 1)
	s.bookingLimit = ratelimit.New(ratelimit.DefaultBookingEvery, ratelimit.DefaultBookingBurst)

	var h http.Handler = mux
	h = s.localize(h) // after the tenant middleware: the business's language is the default
	h = s.withSessions(h)
	h = s.syncWrites(h) // --replica-ack sync: a write is answered once the replica holds it
	h = tenantMiddleware(s.Tenants, s.FairShare, s.Fence, h, s.errorPage)
	h = s.localize(h) // again: the tenant middleware's own answers (no such business) too
	h = withAssets(h) // no tenant behind them: served before a slug is looked up
	// CSRF: state-changing requests from other sites are refused (Fetch metadata / Origin), so
	// neither forms nor cookie-authenticated GraphQL can be driven from another origin.
	h = http.NewCrossOriginProtection().Handler(h)
	h = s.requireUTF8(h)
	h = bufferBody(newBodyBudget(s.BodyBudget), h) // the whole body is in before the request takes its business's turn
	h = limitBody(h)
	h = securityHeaders(h)
	h = s.recoverPanics(h)
	h = s.logRequests(h)
	h = s.withClient(h)
	h = requestID(h)
	return h
}

// routes registers every route, each with its pattern as the metrics label, and returns them
// with their patterns.
func (s *Server) routes() (*http.ServeMux, []string) {
	mux := http.NewServeMux()
	var patterns []string
	route := func(pattern string, h http.Handler) {
		patterns = append(patterns, pattern)
		mux.Handle(pattern, named(pattern, h))
	}
	fn := func(pattern string, h http.HandlerFunc) { route(pattern, h) }
	fn("GET /{$}", s.platformHome)
	fn("GET /healthz", s.healthz)
	fn("GET /readyz", s.readyz)
	fn("GET /signup", s.signupForm)
	fn("POST /signup", s.signup)
	fn("POST /signin", s.findBusinesses) // "signin" is a reserved slug: no business has it
	if s.Metrics != nil {
		route("GET /metrics", s.Metrics.Handler())
	}

	fn("GET /{slug}", s.tenantHome)
	fn("GET /{slug}/{$}", s.tenantHome)
	// GraphQL requests are timed by kind too (query, mutation): lookups apart from bookings.
	route(paths.Pattern("GET", paths.GraphQL), s.GraphQL)
	route(paths.Pattern("POST", paths.GraphQL), s.GraphQL)
	fn(paths.Pattern("GET", paths.Book("{service}")), s.bookDays)
	fn(paths.Pattern("GET", paths.Book("{service}")+"/slots"), s.bookSlots)
	fn(paths.Pattern("GET", paths.Book("{service}")+"/details"), s.bookDetails)
	fn(paths.Pattern("POST", paths.Book("{service}")), s.bookCreate)
	fn(paths.Pattern("GET", paths.Manage("{token}")), s.manageBooking)
	fn(paths.Pattern("GET", paths.ManageAction("{token}", "booking.ics")), s.bookingICS)
	fn(paths.Pattern("GET", paths.ManageAction("{token}", "cancel")), s.cancelForm)
	fn(paths.Pattern("POST", paths.ManageAction("{token}", "cancel")), s.cancelBooking)
	fn(paths.Pattern("GET", paths.ManageAction("{token}", "reschedule")), s.rescheduleDays)
	fn(paths.Pattern("GET", paths.ManageAction("{token}", "reschedule/slots")), s.rescheduleSlots)
	fn(paths.Pattern("POST", paths.ManageAction("{token}", "reschedule")), s.reschedule)
	fn(paths.AdminPattern("GET", paths.AdminLogin), s.loginForm)
	fn(paths.AdminPattern("POST", paths.AdminLogin), s.login)
	fn(paths.AdminPattern("POST", paths.AdminLogout), s.logout)
	fn(paths.AdminPattern("GET", paths.AdminForgot), s.forgotForm)
	fn(paths.AdminPattern("POST", paths.AdminForgot), s.forgot)
	fn(paths.Pattern("GET", paths.PasswordReset("{token}")), s.resetForm)
	fn(paths.Pattern("POST", paths.PasswordReset("{token}")), s.reset)
	fn(paths.Pattern("GET", paths.Invitation("{token}")), s.inviteForm)
	fn(paths.Pattern("POST", paths.Invitation("{token}")), s.acceptInvite)
	fn(paths.Pattern("GET", paths.Logo), s.logo)

	// The dashboard: any signed-in user (user), owners only (owner).
	user := func(pattern string, h http.HandlerFunc) { fn(pattern, s.requireUser(h)) }
	owner := func(pattern string, h http.HandlerFunc) { fn(pattern, s.requireOwner(h)) }
	// A staff member's schedule: owners, and the staff user who is that staff member.
	staffSelf := func(pattern string, h http.HandlerFunc) { fn(pattern, s.requireStaffSelf(h)) }
	user(paths.AdminPattern("GET", paths.AdminHome), s.adminHome)
	user(paths.AdminPattern("GET", "/{$}"), s.adminHome)
	user(paths.AdminPattern("GET", paths.AdminGraphiQL), s.graphiql)
	user(paths.AdminPattern("GET", paths.AdminGraphiQLAsset("{name}")), s.graphiqlFile)
	user(paths.AdminPattern("GET", paths.AdminCalendar), s.adminCalendar)
	user(paths.AdminPattern("GET", paths.AdminNewBooking), s.newBookingForm)
	user(paths.AdminPattern("POST", paths.AdminBookings), s.createBookingFor)
	user(paths.AdminPattern("GET", paths.AdminBooking("{id}")), s.adminBooking)
	user(paths.AdminPattern("POST", paths.AdminBookingAction("{id}", "move")), s.moveBooking)
	user(paths.AdminPattern("POST", paths.AdminBookingAction("{id}", "{action}")), s.bookingAction)
	user(paths.AdminPattern("GET", paths.AdminCustomers), s.adminCustomers)
	user(paths.AdminPattern("GET", paths.AdminCustomer("{id}")), s.adminCustomer)
	user(paths.AdminPattern("POST", paths.AdminCustomerNotes("{id}")), s.customerNotes)
	owner(paths.AdminPattern("POST", paths.AdminCustomerAnonymise("{id}")), s.anonymiseCustomer)
	user(paths.AdminPattern("GET", paths.AdminAccount), s.adminAccount)
	user(paths.AdminPattern("POST", paths.AdminSignOutEverywhere), s.signOutEverywhere)
	user(paths.AdminPattern("POST", paths.AdminAccountName), s.renameSelf)
	user(paths.AdminPattern("POST", paths.AdminAccountPassword), s.changePassword)
	owner(paths.AdminPattern("POST", paths.AdminAccountNotify), s.setNotifyBookings)
	owner(paths.AdminPattern("GET", paths.AdminServices), s.adminServices)
	owner(paths.AdminPattern("POST", paths.AdminServices), s.createService)
	owner(paths.AdminPattern("GET", paths.AdminService("{id}")), s.adminService)
	owner(paths.AdminPattern("POST", paths.AdminService("{id}")), s.updateService)
	owner(paths.AdminPattern("GET", paths.AdminStaffList), s.adminStaffList)
	owner(paths.AdminPattern("POST", paths.AdminStaffList), s.createStaff)
	staffSelf(paths.AdminPattern("GET", paths.AdminStaff("{id}")), s.adminStaff)
	staffSelf(paths.AdminPattern("POST", paths.AdminStaff("{id}")), s.updateStaff)
	staffSelf(paths.AdminPattern("POST", paths.AdminStaffOverrides("{id}")), s.addOverride)
	staffSelf(paths.AdminPattern("POST", paths.AdminStaffOverrideDelete("{id}", "{date}")), s.deleteOverride)
	staffSelf(paths.AdminPattern("POST", paths.AdminStaffTimeOff("{id}")), s.addTimeOff)
	staffSelf(paths.AdminPattern("POST", paths.AdminStaffTimeOffDelete("{id}", "{tid}")), s.deleteTimeOff)
	owner(paths.AdminPattern("GET", paths.AdminResources), s.adminResources)
	owner(paths.AdminPattern("POST", paths.AdminResources), s.createResource)
	owner(paths.AdminPattern("GET", paths.AdminSettings), s.adminSettings)
	owner(paths.AdminPattern("POST", paths.AdminSettings), s.updateSettings)
	owner(paths.AdminPattern("POST", paths.AdminBranding), s.updateBranding)
	owner(paths.AdminPattern("POST", paths.AdminTimezone), s.updateTimezone)
	owner(paths.AdminPattern("GET", paths.AdminUsers), s.adminUsers)
	owner(paths.AdminPattern("POST", paths.AdminUsers), s.createUser)
	owner(paths.AdminPattern("POST", paths.AdminUserRole("{id}")), s.setUserRole)
	owner(paths.AdminPattern("POST", paths.AdminUserRemove("{id}")), s.removeUser)
	owner(paths.AdminPattern("GET", paths.AdminTokens), s.adminTokens)
	owner(paths.AdminPattern("POST", paths.AdminTokens), s.createToken)
	owner(paths.AdminPattern("POST", paths.AdminTokenRevoke("{id}")), s.revokeToken)
	owner(paths.AdminPattern("GET", paths.AdminExport), s.exportZip)
	owner(paths.AdminPattern("POST", paths.AdminDelete), s.deleteBusiness)

	fn("/", s.notFound)
	return mux, patterns
}

func (s *Server) platformHome(w http.ResponseWriter, r *http.Request) {
	var notice string
	if r.URL.Query().Get("msg") == "deleted" {
		notice = tr(r.Context(), "platform.deleted")
	}
	if r.URL.Query().Get("msg") == "find-sent" {
		notice = tr(r.Context(), "platform.find_sent")
	}
	render(w, r, http.StatusOK, platformHomePage(notice, ""))
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.Ready != nil {
		if err := s.Ready(r.Context()); err != nil {
			s.Log.ErrorContext(r.Context(), "not ready", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready\n"))
			return
		}
	}
	if s.Failed != nil {
		failed, err := s.Failed(r.Context())
		if err != nil {
			s.Log.ErrorContext(r.Context(), "not ready: list failed businesses", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready\n"))
			return
		}
		if len(failed) > 0 {
			// Still ready: the other businesses serve, and taking the whole process out of
			// rotation would turn one business's fault into everyone's outage.
			fmt.Fprintf(w, "ready\ndegraded: %d businesses failed (see reserva tenants list): %s\n",
				len(failed), strings.Join(failed, " "))
			return
		}
	}
	w.Write([]byte("ready\n"))
}

func (s *Server) tenantHome(w http.ResponseWriter, r *http.Request) {
	l, ok := tenancy.FromContext(r.Context())
	if !ok {
		s.notFound(w, r)
		return
	}
	store := s.store(r)
	lang := i18n.From(r.Context())
	st, err := store.Settings(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	services, err := store.Services(r.Context(), false)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	site, ok := s.siteOf(w, r)
	if !ok {
		return
	}
	v := tenantHomeView{Name: l.Tenant.Name, Timezone: l.Tenant.Timezone, Address: st.Address, Brand: site.Brand,
		LogoURL: site.LogoURL, Site: site}
	for _, svc := range services {
		v.Services = append(v.Services, serviceView{Name: svc.Name, Description: svc.Description,
			Duration: lang.Duration(svc.Duration), Price: lang.Money(svc.Price.Amount, svc.Price.Currency), Class: svc.Capacity > 1,
			BookURL: bookingBase(l.Tenant.Slug, svc.ID)})
	}
	render(w, r, http.StatusOK, tenantHomePage(v))
}

// serverError answers err through the one error map (fail): a user's error with its status and
// message, anything else logged and answered 500 or 503.
func (s *Server) serverError(w http.ResponseWriter, r *http.Request, err error) { s.fail(w, r, err) }

// retryAfterFault is the Retry-After of a 503 for a platform fault, in seconds.
const retryAfterFault = "30"

func formatDuration(d time.Duration) string {
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case h == 0:
		return fmt.Sprintf("%d min", m)
	case m == 0:
		return fmt.Sprintf("%d h", h)
	}
	return fmt.Sprintf("%d h %d min", h, m)
}

// formatMoney shows minor units with two decimals and the currency code, the same for every
// business: the locale in its settings is stored but nothing formats by it yet.
func formatMoney(m domain.Money) string {
	return formatAmount(m.Amount) + " " + m.Currency
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.errorPage(w, r, http.StatusNotFound, nil)
}

// errorPage renders the page for an error status. Server errors are logged by whoever saw them;
// the visitor only learns that something went wrong.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, _ error) {
	if strings.HasSuffix(r.URL.Path, "/graphql") && !strings.Contains(r.URL.Path, "/admin/") {
		graphqlError(w, status)
		return
	}
	v := errorView{Status: status}
	if l, ok := tenancy.FromContext(r.Context()); ok && r.URL.Path != "/"+l.Tenant.Slug {
		// Under a business: the way back to it (its site, whatever went wrong here).
		v.Business, v.HomeURL = l.Tenant.Name, "/"+l.Tenant.Slug
	}
	switch status {
	case http.StatusNotFound:
		v.Title, v.Message = tr(r.Context(), "error.notfound.title"), tr(r.Context(), "error.notfound.message")
	case http.StatusBadRequest:
		v.Title, v.Message = tr(r.Context(), "error.badlink.title"), tr(r.Context(), "error.badlink.message")
	case http.StatusServiceUnavailable:
		v.Title, v.Message = tr(r.Context(), "error.unavailable.title"), tr(r.Context(), "error.unavailable.message")
	default:
		v.Title, v.Message = tr(r.Context(), "error.generic.title"), tr(r.Context(), "error.generic.message")
	}
	render(w, r, status, errorPage(v))
}

// graphqlError answers an API client in GraphQL's shape, with a code it can act on.
func graphqlError(w http.ResponseWriter, status int) {
	code, msg := "INTERNAL", "internal error"
	switch status {
	case http.StatusNotFound:
		code, msg = "NOT_FOUND", "there is no business at this address"
	case http.StatusServiceUnavailable:
		code, msg = "TENANT_UNAVAILABLE", "this business is being updated; try again in a minute"
	}
	gqlerr.Write(w, status, gqlerr.New(code, msg))
}

// named names the route that serves a request, for its figures in /metrics (logRequests keeps
// them, from the request's arrival to its answer).
func named(pattern string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		metrics.SetRoute(r.Context(), pattern)
		next.ServeHTTP(w, r)
	})
}

// tenantHomeView is what the public landing page of a business shows.
type tenantHomeView struct {
	Name     string
	Timezone string
	Address  string
	Services []serviceView
	Brand    string // #rrggbb
	LogoURL  string // "" without a logo
	Site     siteView
}

type serviceView struct {
	Name        string
	Description string
	Duration    string // "30 min", "1 h 30 min"
	Price       string // "25.00 EUR"
	Class       bool
	BookURL     string
}
