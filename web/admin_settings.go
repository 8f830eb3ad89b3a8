package web

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/reserva/reserva/blob"
	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/internal/paths"
	"github.com/reserva/reserva/internal/turn"
	"github.com/reserva/reserva/ops"
	"github.com/reserva/reserva/tenancy"
)

// Settings, branding (colour and logo), and the owner's account actions: export, delete.

type settingsView struct {
	Frame    adminFrame
	Settings *form
	Branding *form
	Zone     *form // the time zone
	LogoURL  string
	Timezone string
}

func (s *Server) adminSettings(w http.ResponseWriter, r *http.Request) {
	s.showSettings(w, r, nil, nil, nil, http.StatusOK)
}

func (s *Server) showSettings(w http.ResponseWriter, r *http.Request, settings, branding, zone *form, status int) {
	l := leaseOf(r)
	store := s.store(r)
	st, err1 := store.Settings(r.Context())
	b, err2 := store.Branding(r.Context())
	if err := firstErr(err1, err2); err != nil {
		s.serverError(w, r, err)
		return
	}
	v := settingsView{Frame: s.frame(r, "settings"), Settings: settings, Branding: branding, Zone: zone, Timezone: l.Tenant.Timezone}
	if v.Zone == nil {
		v.Zone = newForm(url.Values{"timezone": {l.Tenant.Timezone}})
	}
	if v.Settings == nil {
		v.Settings = newForm(url.Values{"address": {st.Address}, "contactEmail": {st.ContactEmail}, "contactPhone": {st.ContactPhone},
			"currency": {st.Currency}, "locale": {st.Locale}, "slotStep": {strconv.Itoa(int(st.SlotStep / time.Minute))},
			"minNotice": {strconv.Itoa(int(st.MinNotice / time.Minute))}, "horizon": {strconv.Itoa(int(st.Horizon / (24 * time.Hour)))},
			"cancelCutoff": {strconv.Itoa(int(st.CancelCutoff / time.Minute))}})
		if st.RequireConfirmation {
			v.Settings.Values.Set("requireConfirmation", "on")
		}
	}
	if v.Branding == nil {
		v.Branding = newForm(url.Values{"brandColor": {b.Color}})
	}
	if b.LogoType != "" {
		v.LogoURL = logoURL(l.Tenant.Slug, b)
	}
	render(w, r, status, settingsPage(v))
}

func logoURL(slug string, b domain.Branding) string {
	return paths.Site(slug, paths.Logo) + "?v=" + strconv.FormatInt(b.LogoVersion, 10)
}

func (s *Server) updateSettings(w http.ResponseWriter, r *http.Request) {
	if !s.readForm(w, r) {
		return
	}
	f := newForm(r.PostForm)
	st := domain.Settings{Address: strings.TrimSpace(f.Get("address")), ContactEmail: strings.TrimSpace(f.Get("contactEmail")),
		ContactPhone: strings.TrimSpace(f.Get("contactPhone")), Currency: strings.ToUpper(strings.TrimSpace(f.Get("currency"))),
		Locale: strings.TrimSpace(f.Get("locale")), RequireConfirmation: f.Checked("requireConfirmation"),
		SlotStep:     time.Duration(f.number("slotStep", "Slot step", 5, 240)) * time.Minute,
		MinNotice:    time.Duration(f.number("minNotice", "Minimum notice", 0, 90*24*60)) * time.Minute,
		Horizon:      time.Duration(f.number("horizon", "Booking horizon", 1, 730)) * 24 * time.Hour,
		CancelCutoff: time.Duration(f.number("cancelCutoff", "Cancellation cutoff", 0, 90*24*60)) * time.Minute}
	if f.OK() {
		err := s.store(r).UpdateSettings(r.Context(), st)
		if err == nil {
			s.done(w, r, paths.AdminSettings, "Settings saved.")
			return
		}
		if !f.fail(err, nil) {
			s.serverError(w, r, err)
			return
		}
	}
	s.showSettings(w, r, f, nil, nil, http.StatusUnprocessableEntity)
}

// updateTimezone moves the business to another time zone. Bookings and time off are instants
// and keep their moment; working hours and date overrides are clock times and keep them, now
// in the new zone. The owner is told exactly that, with their next booking as an example.
func (s *Server) updateTimezone(w http.ResponseWriter, r *http.Request) {
	l := leaseOf(r)
	if !s.readForm(w, r) {
		return
	}
	f := newForm(r.PostForm)
	tz := strings.TrimSpace(f.Get("timezone"))
	if err := tenancy.ValidateTimezone(tz); err != nil {
		f.invalid("timezone", "Choose a time zone from the list.")
		s.showSettings(w, r, nil, nil, f, http.StatusUnprocessableEntity)
		return
	}
	if tz == l.Tenant.Timezone {
		s.done(w, r, paths.AdminSettings, "The time zone is already "+tz+".")
		return
	}
	to, err := time.LoadLocation(tz)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	next, err := s.store(r).Bookings(r.Context(), domain.BookingFilter{From: time.Now(), Limit: 20})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.Tenants.SetTimezone(r.Context(), l.Tenant.ID, tz); err != nil {
		s.fail(w, r, fmt.Errorf("change time zone: %w", err))
		return
	}
	s.done(w, r, paths.AdminSettings, zoneChanged(l.Location, to, next))
}

// zoneChanged tells the owner what moving from one zone to another did, with the first open
// booking of upcoming (if any) as an example.
func zoneChanged(from, to *time.Location, upcoming []domain.Booking) string {
	msg := fmt.Sprintf("Time zone changed from %s to %s. Existing bookings and time off keep their moment: their times now read in %s time", from, to, to)
	for _, b := range upcoming {
		if b.Status.Open() {
			const f = "Mon 2 Jan 15:04"
			msg += fmt.Sprintf(" (your next booking, %s %s time, is %s %s time)", b.Start.In(from).Format(f), from, b.Start.In(to).Format(f), to)
			break
		}
	}
	return msg + fmt.Sprintf(". Working hours and date overrides keep their clock times, now in %s time: 09:00 stays 09:00 there. Check them if they should move.", to)
}

// logoKey is where a tenant's logo of a version lives in the blob store: below its id, so
// erasing the tenant erases the logo; named by its version, so a cached URL always shows the
// bytes it was made for.
func logoKey(tenantID string, version int64) string {
	return fmt.Sprintf("%s/logo/%d.img", tenantID, version)
}

// updateBranding saves the brand colour and, when a file was chosen, the logo (PNG, JPEG, WebP
// or GIF, as sniffed from its bytes, at most 512 KiB). Nothing is saved unless all of it is valid.
func (s *Server) updateBranding(w http.ResponseWriter, r *http.Request) {
	l := leaseOf(r)
	f := newForm(nil)
	if err := r.ParseMultipartForm(domain.MaxBodyBytes); err != nil {
		var tooBig *http.MaxBytesError
		status := http.StatusBadRequest
		f.Error = "The form could not be read: send it again from this page."
		if errors.As(err, &tooBig) || errors.Is(err, multipart.ErrMessageTooLarge) {
			status, f.Error = http.StatusRequestEntityTooLarge, "The upload is too big: a logo may be at most 512 KiB."
		}
		s.showSettings(w, r, nil, f, nil, status)
		return
	}
	f.Values = r.PostForm
	color := strings.TrimSpace(f.Get("brandColor"))
	if err := domain.CheckBrandColor(color); err != nil {
		f.fail(err, nil)
	}
	var logo []byte
	var typ string
	file, _, err := r.FormFile("logo")
	switch {
	case err == nil:
		defer func() { _ = file.Close() }() // only read
		if logo, err = io.ReadAll(io.LimitReader(file, domain.MaxLogoBytes+1)); err != nil {
			s.serverError(w, r, err)
			return
		}
		typ = http.DetectContentType(logo)
		switch {
		case len(logo) > domain.MaxLogoBytes:
			f.invalid("logo", "the logo is too big: at most 512 KiB")
		case domain.LogoTypes[typ] == "":
			f.invalid("logo", "the logo must be a PNG, JPEG, WebP or GIF image")
		case s.Blobs == nil:
			f.invalid("logo", "logo uploads are not configured on this server")
		}
	case !errors.Is(err, http.ErrMissingFile):
		s.serverError(w, r, err)
		return
	}
	if !f.OK() {
		s.showSettings(w, r, nil, f, nil, http.StatusUnprocessableEntity)
		return
	}

	store := s.store(r)
	old, err := store.Branding(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	msg := "Colour saved."
	version := domain.LogoVersion(logo)
	switch {
	case logo != nil:
		// The bytes first, under their own name; then the record that points at them.
		if err := s.Blobs.Put(r.Context(), logoKey(l.Tenant.ID, version), bytes.NewReader(logo)); err != nil {
			s.serverError(w, r, err)
			return
		}
		if err := store.SetLogo(r.Context(), typ, version); err != nil {
			s.serverError(w, r, err)
			return
		}
		msg = "Colour and logo saved."
	case f.Checked("removeLogo"):
		if err := store.SetLogo(r.Context(), "", 0); err != nil {
			s.serverError(w, r, err)
			return
		}
		msg = "Colour saved, logo removed."
	}
	if err := store.SetBrandColor(r.Context(), color); err != nil {
		s.serverError(w, r, err)
		return
	}
	if old.LogoType != "" && (logo != nil || f.Checked("removeLogo")) && old.LogoVersion != version && s.Blobs != nil {
		// The replaced image is no longer shown (a restore of an older backup may point at it
		// again: then the logo is simply missing until the next upload).
		if _, err := s.Blobs.DeletePrefix(r.Context(), logoKey(l.Tenant.ID, old.LogoVersion)); err != nil {
			s.Log.WarnContext(r.Context(), "remove replaced logo", "err", err)
		}
	}
	s.done(w, r, paths.AdminSettings, msg)
}

// logo serves a business's logo (public: its booking site shows it).
func (s *Server) logo(w http.ResponseWriter, r *http.Request) {
	l := leaseOf(r)
	b, err := s.store(r).Branding(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if b.LogoType == "" || s.Blobs == nil {
		s.notFound(w, r)
		return
	}
	rc, err := s.Blobs.Get(r.Context(), logoKey(l.Tenant.ID, b.LogoVersion))
	if errors.Is(err, blob.ErrNotFound) {
		s.notFound(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	defer func() { _ = rc.Close() }() // only read
	w.Header().Set("Content-Type", b.LogoType)
	if r.URL.Query().Get("v") == strconv.FormatInt(b.LogoVersion, 10) {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	_, _ = io.Copy(w, rc) // headers are sent: a client that left needs no answer
}

type accountView struct {
	Frame    adminFrame
	Name     *form // the user's own name
	Password *form // current, new and confirmed password
	Delete   *form
	// NotifyBookings: the user (an owner) is mailed about new, moved and cancelled bookings.
	NotifyBookings bool
}

func (s *Server) adminAccount(w http.ResponseWriter, r *http.Request) {
	s.showAccount(w, r, newForm(nil), http.StatusOK)
}

func (s *Server) showAccount(w http.ResponseWriter, r *http.Request, f *form, status int) {
	s.renderAccount(w, r, accountView{Delete: f}, status)
}

// renderAccount shows the account page with the forms of v, fresh ones where v has none.
func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, v accountView, status int) {
	v.Frame = s.frame(r, "account")
	u, err := s.store(r).User(r.Context(), viewerOf(r).UserID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	v.NotifyBookings = u.NotifyBookings
	if v.Name == nil {
		v.Name = newForm(url.Values{"name": {viewerOf(r).Name}})
	}
	if v.Password == nil {
		v.Password = newForm(nil)
	}
	if v.Delete == nil {
		v.Delete = newForm(nil)
	}
	render(w, r, status, accountPage(v))
}

// setNotifyBookings turns the signed-in owner's mail about bookings on or off.
func (s *Server) setNotifyBookings(w http.ResponseWriter, r *http.Request) {
	if !s.readForm(w, r) {
		return
	}
	on := r.PostForm.Get("notify") != ""
	if _, err := s.store(r).SetNotifyBookings(r.Context(), viewerOf(r).UserID, on); err != nil {
		s.serverError(w, r, err)
		return
	}
	msg := "You will no longer be mailed about bookings."
	if on {
		msg = "You will be mailed about new, moved and cancelled bookings."
	}
	s.done(w, r, paths.AdminAccount, msg)
}

// renameSelf changes the signed-in user's own name.
func (s *Server) renameSelf(w http.ResponseWriter, r *http.Request) {
	if !s.readForm(w, r) {
		return
	}
	f := newForm(r.PostForm)
	_, err := s.store(r).RenameUser(r.Context(), viewerOf(r).UserID, f.Get("name"))
	if err == nil {
		s.done(w, r, paths.AdminAccount, "Your name is changed.")
		return
	}
	if !f.fail(err, nil) {
		s.serverError(w, r, err)
		return
	}
	s.renderAccount(w, r, accountView{Name: f}, http.StatusUnprocessableEntity)
}

// changePassword sets the signed-in user's password after checking their current one. Their
// other sessions end; this one is signed in again. Wrong guesses at the current password count
// against the sign-in limit: a borrowed session must not be a way to try passwords freely.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	l := leaseOf(r)
	if !s.readForm(w, r) {
		return
	}
	f := newForm(r.PostForm)
	if key := l.Tenant.ID + "/" + clientIP(r); !s.loginLimit.Allow(key) {
		f.Error = "Too many attempts. Try again in " + tooMany(w, s.loginLimit, key) + "."
		s.renderAccount(w, r, accountView{Password: f}, http.StatusTooManyRequests)
		return
	}
	if f.Get("newPassword") != f.Get("confirmPassword") {
		f.invalid("confirmPassword", "the two new passwords are not the same")
		s.renderAccount(w, r, accountView{Password: f}, http.StatusUnprocessableEntity)
		return
	}
	u, err := s.store(r).ChangePassword(r.Context(), viewerOf(r).UserID, f.Get("current"), f.Get("newPassword"))
	if err != nil {
		if !f.fail(err, map[string]string{"password": "newPassword"}) {
			s.serverError(w, r, err)
			return
		}
		s.renderAccount(w, r, accountView{Password: f}, http.StatusUnprocessableEntity)
		return
	}
	if err := signIn(r.Context(), s.sessions(r), u); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.done(w, r, paths.AdminAccount, "Your password is changed, and your other sessions are signed out.")
}

// signOutEverywhere ends every session of the signed-in user, on every device, and the API
// tokens the user made unless they ask to keep them (keepTokens): whoever used a lost device
// may have made one.
func (s *Server) signOutEverywhere(w http.ResponseWriter, r *http.Request) {
	l := leaseOf(r)
	v := viewerOf(r)
	if _, err := s.store(r).SignOutEverywhere(r.Context(), v.UserID, r.PostFormValue("keepTokens") == ""); err != nil {
		s.serverError(w, r, err)
		return
	}
	if err := s.sessions(r).Destroy(r.Context()); err != nil {
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, paths.Admin(l.Tenant.Slug, paths.AdminLogin+"?msg=everywhere"), http.StatusSeeOther)
}

// exportTimeout bounds the making and sending of one export.
const exportTimeout = 15 * time.Minute

// exportZip sends the business's whole data (GDPR access and portability) as a zip: dump.sql,
// one JSON file per table and business.json.
func (s *Server) exportZip(w http.ResponseWriter, r *http.Request) {
	l := leaseOf(r)
	// The export and its zip keep to their own share of a core (ops/pace.go), at the
	// lowest priority: less than a turn of the business's fair share. The turn goes back first,
	// so that the business's customers need not wait for the owner's download to book. Paced,
	// a big business's export can take longer than the write timeout of an ordinary response.
	turn.End(r.Context())
	if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(exportTimeout)); err != nil {
		// The download goes on under the ordinary write timeout: a big one may be cut short.
		s.Log.WarnContext(r.Context(), "export: extend the write deadline", "err", err)
	}
	// Zipped straight into a scratch file beside the business's database (where erasure and
	// start-up clean-up find one a crash leaves), sent once complete: a failed export is a
	// clean error, not half a download.
	f, done, err := s.Tenants.ExportFile(l.Tenant)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	defer done()
	if err := writeZip(r.Context(), s.Tenants, l.Tenant, f); err != nil {
		s.serverError(w, r, err)
		return
	}
	name := fmt.Sprintf("%s-export-%s.zip", l.Tenant.Slug, time.Now().In(l.Location).Format("2006-01-02"))
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	if fi, err := f.Stat(); err == nil {
		w.Header().Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
	}
	if _, err := io.Copy(w, f); err != nil {
		// Headers are sent: nothing to answer, but a failed download is worth a line.
		s.Log.WarnContext(r.Context(), "export: send the zip", "err", err)
	}
}

// writeZip writes the business's export into f as a zip, leaving f at its start. The
// compression runs in the export's own pace and priority, as each file is written.
func writeZip(ctx context.Context, tenants *tenancy.Manager, t tenancy.Tenant, f *os.File) error {
	zw := zip.NewWriter(f)
	zw.RegisterCompressor(zip.Deflate, fastDeflate)
	_, err := ops.New(tenants, nil).ExportTo(ctx, t, func(name string) (io.WriteCloser, error) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Now()})
		return nopCloser{w}, err // the zip ends each file when the next begins
	})
	if err = errors.Join(err, zw.Close()); err != nil {
		return err
	}
	_, err = f.Seek(0, io.SeekStart)
	return err
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// fastDeflaters are compressors at the fastest level, reused from one file and export to the
// next: each new one allocates over a megabyte, which made an export's zip the garbage
// collector's main work for the whole server (docs/perf.md). archive/zip pools its default
// compressors the same way.
var fastDeflaters sync.Pool

// fastDeflate is the zip's Deflate compressor at the fastest level: an export's JSON and SQL
// still shrink several times over, for a fraction of the CPU that the default level takes from
// everyone else's requests.
func fastDeflate(w io.Writer) (io.WriteCloser, error) {
	if fw, ok := fastDeflaters.Get().(*flate.Writer); ok {
		fw.Reset(w)
		return pooledDeflater{fw}, nil
	}
	fw, err := flate.NewWriter(w, flate.BestSpeed)
	return pooledDeflater{fw}, err
}

// pooledDeflater gives its compressor back to the pool when the zip closes the file.
type pooledDeflater struct{ *flate.Writer }

func (p pooledDeflater) Close() error {
	err := p.Writer.Close()
	fastDeflaters.Put(p.Writer)
	return err
}

// deleteBusiness erases the business (GDPR erasure): database, sessions, logo, backups. The
// owner re-types the slug to confirm.
func (s *Server) deleteBusiness(w http.ResponseWriter, r *http.Request) {
	l := leaseOf(r)
	if !s.readForm(w, r) {
		return
	}
	f := newForm(r.PostForm)
	if strings.TrimSpace(f.Get("confirm")) != l.Tenant.Slug {
		f.invalid("confirm", "type %s to confirm", l.Tenant.Slug)
		s.showAccount(w, r, f, http.StatusUnprocessableEntity)
		return
	}
	// Deleting waits for every other use of the business to end, and every request of it waits
	// meanwhile: so it goes ahead only when nothing else uses it (another tab, a download, a live
	// connection of an integration), and waits a few seconds at most.
	if n := s.Tenants.Leases(l.Tenant.ID); n > 1 {
		f.Error = "Your business is in use right now (another tab, a download, or a live API connection). Close them and try again in a minute."
		s.showAccount(w, r, f, http.StatusConflict)
		return
	}
	s.Log.InfoContext(r.Context(), "business deleted by its owner", "tenant", l.Tenant.Slug, "tenant_id", l.Tenant.ID)
	// This request's own lease would keep the deletion waiting: give it back first.
	l.Release()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if err := s.Tenants.Delete(ctx, l.Tenant.ID); err != nil {
		s.Log.ErrorContext(r.Context(), "delete business", "tenant", l.Tenant.Slug, "err", err)
		// Nothing was removed (files go only once every use has ended); the owner stays signed in.
		v := errorView{Status: http.StatusServiceUnavailable, Title: "Not deleted",
			Message: "Your business is in use right now and was not deleted. Close other tabs and downloads, then try again in a minute."}
		render(w, r, v.Status, errorPage(v))
		return
	}
	// The session went with the database; ending it here only expires the browser's cookie.
	if err := s.sessions(r).Destroy(context.WithValue(r.Context(), tenantGone{}, true)); err != nil {
		s.Log.ErrorContext(r.Context(), "end the session of a deleted business", "err", err)
	}
	http.Redirect(w, r, "/?msg=deleted", http.StatusSeeOther)
}
