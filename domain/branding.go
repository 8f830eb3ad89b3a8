package domain

import (
	"context"
	"fmt"
)

// Branding is how a business's pages look: its colour and logo. The logo itself lives in the
// blob store; the database keeps its content type and a version that changes with each upload.
type Branding struct {
	Color       string // #rrggbb
	LogoType    string // image/png, image/jpeg, image/webp, image/gif; "" = no logo
	LogoVersion int64
}

// LogoTypes are the image formats a logo may have. SVG is not among them: it can carry scripts.
var LogoTypes = map[string]string{"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/gif": ".gif"}

// MaxLogoBytes bounds an uploaded logo.
const MaxLogoBytes = 512 << 10

// Branding returns the business's branding.
func (s *Store) Branding(ctx context.Context) (Branding, error) {
	var b Branding
	err := s.r.QueryRowContext(ctx, `SELECT brand_color, logo_type, logo_version FROM settings WHERE id = 1`).
		Scan(&b.Color, &b.LogoType, &b.LogoVersion)
	if err != nil {
		return b, fmt.Errorf("read branding: %w", err)
	}
	return b, nil
}

// SetBrandColor sets the colour of the business's pages. Errors: EINVALID.
func (s *Store) SetBrandColor(ctx context.Context, color string) error {
	if !isHexColor(color) {
		return Invalid("brandColor", "colour must look like #1f6feb (a # and six hex digits)")
	}
	_, err := s.w.ExecContext(ctx, `UPDATE settings SET brand_color = ?, updated_at = ? WHERE id = 1`, color, s.now().Unix())
	return wrap("set brand colour", err)
}

// SetLogo records that a logo of contentType was stored ("" removes it) and returns its new
// version. Errors: EINVALID.
func (s *Store) SetLogo(ctx context.Context, contentType string) (int64, error) {
	if _, ok := LogoTypes[contentType]; !ok && contentType != "" {
		return 0, Invalid("logo", "the logo must be a PNG, JPEG, WebP or GIF image")
	}
	var v int64
	err := s.w.QueryRowContext(ctx, `UPDATE settings SET logo_type = ?, logo_version = logo_version + 1, updated_at = ?
		WHERE id = 1 RETURNING logo_version`, contentType, s.now().Unix()).Scan(&v)
	return v, wrap("set logo", err)
}

func isHexColor(c string) bool {
	if len(c) != 7 || c[0] != '#' {
		return false
	}
	for _, r := range c[1:] {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
			return false
		}
	}
	return true
}
