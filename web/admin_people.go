package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/paths"
)

// Customers, dashboard users and API tokens.

type customerRow struct {
	Name, Email, Phone, URL string
}

type customersView struct {
	Frame     adminFrame
	Search    string
	Customers []customerRow
	MoreURL   string
}

const customersPerPage = 50

func (s *Server) adminCustomers(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	list, err := s.store(r).Customers(r.Context(), q, customersPerPage+1, after)
	if err != nil && domain.ErrorCode(err) != domain.EINVALID {
		s.serverError(w, r, err)
		return
	}
	frame := s.frame(r, "customers")
	v := customersView{Frame: frame, Search: q}
	if len(list) > customersPerPage {
		list = list[:customersPerPage]
		v.MoreURL = frame.URL(paths.AdminCustomers + "?" + url.Values{"q": {q}, "after": {strconv.FormatInt(list[len(list)-1].ID, 10)}}.Encode())
	}
	for _, c := range list {
		v.Customers = append(v.Customers, customerRow{Name: c.Name, Email: c.Email, Phone: c.Phone, URL: frame.URL(paths.AdminCustomer(c.ID))})
	}
	render(w, r, http.StatusOK, customersPage(v))
}

type customerView struct {
	Frame    adminFrame
	ID       int64
	Customer domain.Customer
	Contact  string // email and phone, those given
	Since    string
	Notes    *form
	Bookings []calendarBooking
	Dates    []string // of each booking
}

func (s *Server) adminCustomer(w http.ResponseWriter, r *http.Request) {
	s.showCustomer(w, r, nil, http.StatusOK)
}

func (s *Server) showCustomer(w http.ResponseWriter, r *http.Request, notes *form, status int) {
	l := leaseOf(r)
	id, ok := pathID(r, "id")
	if !ok {
		s.notFound(w, r)
		return
	}
	store := s.store(r)
	c, err := store.Customer(r.Context(), id)
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		s.notFound(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	bookings, err1 := store.Bookings(r.Context(), domain.BookingFilter{CustomerID: id, Limit: 500})
	services, err2 := store.Services(r.Context(), true)
	staff, err3 := store.StaffList(r.Context(), true)
	if err := firstErr(err1, err2, err3); err != nil {
		s.serverError(w, r, err)
		return
	}
	frame := s.frame(r, "customers")
	v := customerView{Frame: frame, ID: id, Customer: c, Contact: contactLine(c.Email, c.Phone),
		Since: c.CreatedAt.In(l.Location).Format("2 January 2006"), Notes: notes}
	if v.Notes == nil {
		v.Notes = newForm(url.Values{"notes": {c.Notes}})
	}
	svcName, staffName := map[int64]string{}, map[int64]string{}
	for _, x := range services {
		svcName[x.ID] = x.Name
	}
	for _, x := range staff {
		staffName[x.ID] = x.Name
	}
	for i := len(bookings) - 1; i >= 0; i-- { // newest first
		b := bookings[i]
		v.Bookings = append(v.Bookings, s.calendarBooking(frame, b, svcName[b.ServiceID], staffName[b.StaffID], l.Location))
		v.Dates = append(v.Dates, b.Start.In(l.Location).Format("Mon 2 Jan 2006"))
	}
	render(w, r, status, customerPage(v))
}

func (s *Server) customerNotes(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r, "id")
	if !ok {
		s.notFound(w, r)
		return
	}
	if !s.readForm(w, r) {
		return
	}
	f := newForm(r.PostForm)
	err := s.store(r).UpdateCustomerNotes(r.Context(), id, strings.TrimSpace(f.Get("notes")))
	if err == nil {
		s.done(w, r, paths.AdminCustomer(id), "Notes saved.")
		return
	}
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		s.notFound(w, r)
		return
	}
	if !f.fail(err, nil) {
		s.serverError(w, r, err)
		return
	}
	s.showCustomer(w, r, f, http.StatusUnprocessableEntity)
}

// anonymiseCustomer erases one customer's personal data (GDPR): their bookings stay, nameless.
func (s *Server) anonymiseCustomer(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r, "id")
	if !ok {
		s.notFound(w, r)
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		s.done(w, r, paths.AdminCustomer(id), "Not done: tick the box to confirm that this customer's personal data is to be erased.")
		return
	}
	if err := s.store(r).AnonymiseCustomer(r.Context(), id, actorOf(r)); err != nil {
		s.userError(w, r, err, "")
		return
	}
	s.done(w, r, paths.AdminCustomer(id), "The customer's personal data was erased.")
}

type userRow struct {
	ID                      int64
	Name, Email, Role, Self string
	RoleURL, RemoveURL      string
}

type usersView struct {
	Frame adminFrame
	Users []userRow
	Form  *form
	Staff []option
}

func (s *Server) adminUsers(w http.ResponseWriter, r *http.Request) {
	s.showUsers(w, r, newForm(url.Values{"role": {"staff"}}), http.StatusOK)
}

func (s *Server) showUsers(w http.ResponseWriter, r *http.Request, f *form, status int) {
	store := s.store(r)
	users, err1 := store.Users(r.Context())
	staff, err2 := store.StaffList(r.Context(), false)
	if err := firstErr(err1, err2); err != nil {
		s.serverError(w, r, err)
		return
	}
	me := viewerOf(r)
	frame := s.frame(r, "users")
	v := usersView{Frame: frame, Form: f}
	for _, u := range users {
		row := userRow{ID: u.ID, Name: u.Name, Email: u.Email, Role: string(u.Role),
			RoleURL: frame.URL(paths.AdminUserRole(u.ID)), RemoveURL: frame.URL(paths.AdminUserRemove(u.ID))}
		if u.ID == me.UserID {
			row.Self = "you"
		}
		v.Users = append(v.Users, row)
	}
	v.Staff = append(v.Staff, option{"", "Not a staff member"})
	for _, m := range staff {
		v.Staff = append(v.Staff, option{strconv.FormatInt(m.ID, 10), m.Name})
	}
	render(w, r, status, usersPage(v))
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	if !s.readForm(w, r) {
		return
	}
	f := newForm(r.PostForm)
	staffID, _ := strconv.ParseInt(f.Get("staffId"), 10, 64)
	nu := domain.NewUser{Email: f.Get("email"), Name: f.Get("name"),
		Password: f.Get("password"), Role: domain.Role(f.Get("role")), StaffID: staffID}
	// No password: the user is invited by email to choose their own.
	if nu.Password == "" {
		u, err := s.store(r).InviteUser(r.Context(), nu, leaseOf(r).Tenant.Name)
		if err == nil {
			s.done(w, r, paths.AdminUsers, fmt.Sprintf("%s is invited: we emailed %s a link, valid for 7 days, to choose a password.", u.Name, u.Email))
			return
		}
		s.userFormFailed(w, r, f, err)
		return
	}
	u, err := s.store(r).CreateUser(r.Context(), nu)
	if err == nil {
		s.done(w, r, paths.AdminUsers, fmt.Sprintf("%s can now sign in with %s and the password you chose.", u.Name, u.Email))
		return
	}
	s.userFormFailed(w, r, f, err)
}

// userFormFailed shows the users page again with why adding a user failed.
func (s *Server) userFormFailed(w http.ResponseWriter, r *http.Request, f *form, err error) {
	f.Values.Del("password")
	if !f.fail(err, nil) {
		s.serverError(w, r, err)
		return
	}
	if f.Error != "" && domain.ErrorCode(err) == domain.ECONFLICT {
		f.invalid("email", "%s", f.Error)
		f.Error = ""
	}
	s.showUsers(w, r, f, http.StatusUnprocessableEntity)
}

func (s *Server) setUserRole(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r, "id")
	if !ok {
		s.notFound(w, r)
		return
	}
	u, err := s.store(r).SetUserRole(r.Context(), id, domain.Role(r.PostFormValue("role")))
	if err != nil {
		s.userError(w, r, err, paths.AdminUsers)
		return
	}
	s.done(w, r, paths.AdminUsers, fmt.Sprintf("%s is now %s.", u.Name, u.Role))
}

func (s *Server) removeUser(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r, "id")
	if !ok {
		s.notFound(w, r)
		return
	}
	if err := s.store(r).RemoveUser(r.Context(), id); err != nil {
		s.userError(w, r, err, paths.AdminUsers)
		return
	}
	s.done(w, r, paths.AdminUsers, "User removed: they can no longer sign in.")
}

type tokenRow struct {
	Name, Role, Created, LastUsed, RevokeURL string
	Revoked                                  bool
}

type tokensView struct {
	Frame  adminFrame
	Tokens []tokenRow
	Form   *form
	Secret string // a token just created, shown once
}

// tokenSecretKey is the session key of a token just created, kept for the one page that shows it.
const tokenSecretKey = "token-secret"

func (s *Server) adminTokens(w http.ResponseWriter, r *http.Request) {
	// A token just created is shown on this page once (it is stored hashed): popped from the
	// session, so a reload shows it no more, and kept out of every cache.
	secret := s.sessions(r).PopString(r.Context(), tokenSecretKey)
	if secret != "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	s.showTokens(w, r, newForm(url.Values{"role": {"staff"}}), secret, http.StatusOK)
}

func (s *Server) showTokens(w http.ResponseWriter, r *http.Request, f *form, secret string, status int) {
	l := leaseOf(r)
	tokens, err := s.store(r).APITokens(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	frame := s.frame(r, "tokens")
	v := tokensView{Frame: frame, Form: f, Secret: secret}
	for _, t := range tokens {
		row := tokenRow{Name: t.Name, Role: string(t.Role), Created: t.CreatedAt.In(l.Location).Format("2 Jan 2006"), LastUsed: "never",
			Revoked: t.Revoked, RevokeURL: frame.URL(paths.AdminTokenRevoke(t.ID))}
		if !t.LastUsedAt.IsZero() {
			row.LastUsed = t.LastUsedAt.In(l.Location).Format("2 Jan 2006 15:04")
		}
		v.Tokens = append(v.Tokens, row)
	}
	render(w, r, status, tokensPage(v))
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	if !s.readForm(w, r) {
		return
	}
	f := newForm(r.PostForm)
	me := viewerOf(r)
	_, secret, err := s.store(r).CreateAPIToken(r.Context(), strings.TrimSpace(f.Get("name")), domain.Role(f.Get("role")), me.UserID)
	if err == nil {
		// Post-redirect-get: the page that shows the secret is a GET, so reloading it cannot
		// create a second token (answering the POST with the page did).
		s.sessions(r).Put(r.Context(), tokenSecretKey, secret)
		s.done(w, r, paths.AdminTokens, "Token created.")
		return
	}
	if !f.fail(err, nil) {
		s.serverError(w, r, err)
		return
	}
	s.showTokens(w, r, f, "", http.StatusUnprocessableEntity)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r, "id")
	if !ok {
		s.notFound(w, r)
		return
	}
	if err := s.store(r).RevokeAPIToken(r.Context(), id); err != nil {
		s.userError(w, r, err, paths.AdminTokens)
		return
	}
	s.done(w, r, paths.AdminTokens, "Token revoked: it no longer works.")
}
