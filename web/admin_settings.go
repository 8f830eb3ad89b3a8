package web

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/tenancy"
)

// Settings, branding (colour and logo), and the owner's account actions: export, delete.

type settingsView struct {
	Frame    adminFrame
	Settings *form
	Branding *form
	LogoURL  string
	Timezone string
}

func (s *Server) adminSettings(w http.ResponseWriter, r *http.Request) {
	s.showSettings(w, r, nil, nil, http.StatusOK)
}

func (s *Server) showSettings(w http.ResponseWriter, r *http.Request, settings, branding *form, status int) {
	l, _ := tenancy.FromContext(r.Context())
	store := s.store(r)
	st, err1 := store.Settings(r.Context())
	b, err2 := store.Branding(r.Context())
	if err := firstErr(err1, err2); err != nil {
		s.serverError(w, r, err)
		return
	}
	v := settingsView{Frame: s.frame(r, "settings"), Settings: settings, Branding: branding, Timezone: l.Tenant.Timezone}
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
	return fmt.Sprintf("/%s/logo?v=%d", slug, b.LogoVersion)
}

func (s *Server) updateSettings(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
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
			s.done(w, r, "/settings", "Settings saved.")
			return
		}
		if !f.fail(err, nil) {
			s.serverError(w, r, err)
			return
		}
	}
	s.showSettings(w, r, f, nil, http.StatusUnprocessableEntity)
}

// logoKey is where a tenant's logo lives in the blob store: below its id, so erasing the tenant
// erases the logo.
func logoKey(tenantID string) string { return tenantID + "/logo" }

// updateBranding saves the brand colour and, when a file was chosen, the logo (PNG, JPEG, WebP
// or GIF, as sniffed from its bytes, at most 512 KiB).
func (s *Server) updateBranding(w http.ResponseWriter, r *http.Request) {
	l, _ := tenancy.FromContext(r.Context())
	f := newForm(nil)
	if err := r.ParseMultipartForm(MaxBodyBytes); err != nil {
		f.Error = "The upload is too big: a logo may be at most 512 KiB."
		s.showSettings(w, r, nil, f, http.StatusRequestEntityTooLarge)
		return
	}
	f.Values = r.PostForm
	store := s.store(r)
	if err := store.SetBrandColor(r.Context(), strings.TrimSpace(f.Get("brandColor"))); err != nil {
		if !f.fail(err, nil) {
			s.serverError(w, r, err)
			return
		}
		s.showSettings(w, r, nil, f, http.StatusUnprocessableEntity)
		return
	}
	msg := "Colour saved."
	if f.Checked("removeLogo") {
		if _, err := store.SetLogo(r.Context(), ""); err != nil {
			s.serverError(w, r, err)
			return
		}
		msg = "Colour saved, logo removed."
	} else if file, _, err := r.FormFile("logo"); err == nil {
		defer file.Close()
		data, err := io.ReadAll(io.LimitReader(file, domain.MaxLogoBytes+1))
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		typ := http.DetectContentType(data)
		switch {
		case len(data) > domain.MaxLogoBytes:
			f.invalid("logo", "the logo is too big: at most 512 KiB")
		case domain.LogoTypes[typ] == "":
			f.invalid("logo", "the logo must be a PNG, JPEG, WebP or GIF image")
		case s.Blobs == nil:
			f.invalid("logo", "logo uploads are not configured on this server")
		}
		if !f.OK() {
			s.showSettings(w, r, nil, f, http.StatusUnprocessableEntity)
			return
		}
		if err := s.Blobs.Put(r.Context(), logoKey(l.Tenant.ID), bytes.NewReader(data)); err != nil {
			s.serverError(w, r, err)
			return
		}
		if _, err := store.SetLogo(r.Context(), typ); err != nil {
			s.serverError(w, r, err)
			return
		}
		msg = "Colour and logo saved."
	} else if !errors.Is(err, http.ErrMissingFile) {
		s.serverError(w, r, err)
		return
	}
	s.done(w, r, "/settings", msg)
}

// logo serves a business's logo (public: its booking site shows it).
func (s *Server) logo(w http.ResponseWriter, r *http.Request) {
	l, _ := tenancy.FromContext(r.Context())
	b, err := s.store(r).Branding(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if b.LogoType == "" || s.Blobs == nil {
		s.notFound(w, r)
		return
	}
	rc, err := s.Blobs.Get(r.Context(), logoKey(l.Tenant.ID))
	if errors.Is(err, tenancy.ErrNotFound) {
		s.notFound(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", b.LogoType)
	if r.URL.Query().Get("v") == strconv.FormatInt(b.LogoVersion, 10) {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	io.Copy(w, rc)
}

type accountView struct {
	Frame  adminFrame
	Delete *form
}

func (s *Server) adminAccount(w http.ResponseWriter, r *http.Request) {
	s.showAccount(w, r, newForm(nil), http.StatusOK)
}

func (s *Server) showAccount(w http.ResponseWriter, r *http.Request, f *form, status int) {
	render(w, r, status, accountPage(accountView{Frame: s.frame(r, "account"), Delete: f}))
}

// signOutEverywhere ends every session of the signed-in user, on every device.
func (s *Server) signOutEverywhere(w http.ResponseWriter, r *http.Request) {
	l, _ := tenancy.FromContext(r.Context())
	v, _ := domain.ViewerFrom(r.Context())
	if _, err := s.store(r).SignOutEverywhere(r.Context(), v.UserID); err != nil {
		s.serverError(w, r, err)
		return
	}
	if err := s.sessions(r).Destroy(r.Context()); err != nil {
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/"+l.Tenant.Slug+"/admin/login?msg=everywhere", http.StatusSeeOther)
}

// exportZip sends the business's whole data (GDPR access and portability) as a zip: dump.sql,
// one JSON file per table and business.json.
func (s *Server) exportZip(w http.ResponseWriter, r *http.Request) {
	l, _ := tenancy.FromContext(r.Context())
	dir, err := os.MkdirTemp("", "reserva-export-")
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	defer os.RemoveAll(dir)
	files, err := s.Tenants.Export(r.Context(), l.Tenant, dir)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	// The zip is made while this request holds its business's turn; a slow download then
	// holds nothing of the business's.
	zipPath := filepath.Join(dir, "export.zip")
	if err := writeZip(zipPath, dir, files); err != nil {
		s.serverError(w, r, err)
		return
	}
	tenancy.EndTurn(r.Context())
	f, err := os.Open(zipPath)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	defer f.Close()
	name := fmt.Sprintf("%s-export-%s.zip", l.Tenant.Slug, time.Now().In(l.Location).Format("2006-01-02"))
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	if fi, err := f.Stat(); err == nil {
		w.Header().Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
	}
	io.Copy(w, f)
}

// writeZip zips the files (names relative to dir) into path.
func writeZip(path, dir string, files []string) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(out)
	for _, f := range files {
		if err := addToZip(zw, filepath.Join(dir, f), f); err != nil {
			out.Close()
			return err
		}
	}
	return errors.Join(zw.Close(), out.Close())
}

func addToZip(zw *zip.Writer, path, name string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	out, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Now()})
	if err != nil {
		return err
	}
	_, err = io.Copy(out, f)
	return err
}

// deleteBusiness erases the business (GDPR erasure): database, sessions, logo, backups. The
// owner re-types the slug to confirm.
func (s *Server) deleteBusiness(w http.ResponseWriter, r *http.Request) {
	l, _ := tenancy.FromContext(r.Context())
	r.ParseForm()
	f := newForm(r.PostForm)
	if strings.TrimSpace(f.Get("confirm")) != l.Tenant.Slug {
		f.invalid("confirm", "type %s to confirm", l.Tenant.Slug)
		s.showAccount(w, r, f, http.StatusUnprocessableEntity)
		return
	}
	// The session goes with the database; end it now, while the database is still there.
	if err := s.sessions(r).Destroy(r.Context()); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.Log.InfoContext(r.Context(), "business deleted by its owner", "tenant", l.Tenant.Slug, "tenant_id", l.Tenant.ID)
	// This request's own lease would keep the deletion waiting: give it back first. Requests
	// in flight (another tab, a live subscription) are waited for, up to a bound.
	l.Release()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	if err := s.Tenants.Delete(ctx, l.Tenant.ID); err != nil {
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/?msg=deleted", http.StatusSeeOther)
}
