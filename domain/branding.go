package domain

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
)

// Branding is how a business's pages look: its colour and logo. The logo itself lives in the
// blob store; the database keeps its content type and its version, derived from its bytes (so a
// version never names two different images, not even after a restore).
type Branding struct {
	Color       string // #rrggbb
	LogoType    string // image/png, image/jpeg, image/webp, image/gif; "" = no logo
	LogoVersion int64
}

// CheckBrandColor validates a brand colour. Errors: EINVALID.
func CheckBrandColor(color string) error {
	if !isHexColor(color) {
		return Invalid("brandColor", "colour must look like #1f6feb (a # and six hex digits)")
	}
	return nil
}

// LogoTypes are the image formats a logo may have. SVG is not among them: it can carry scripts.
var LogoTypes = map[string]string{"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/gif": ".gif"}

// MaxLogoBytes bounds an uploaded logo.
const MaxLogoBytes = 512 << 10

// Branding returns the business's branding.
func (s *Store) Branding(ctx context.Context) (Branding, error) {
	c, err := s.catalog(ctx)
	if err != nil {
		return Branding{}, err
	}
	return c.branding, nil
}

// SetBrandColor sets the colour of the business's pages. Errors: EINVALID.
func (s *Store) SetBrandColor(ctx context.Context, color string) error {
	if err := CheckBrandColor(color); err != nil {
		return err
	}
	_, err := s.w.ExecContext(ctx, `UPDATE settings SET brand_color = ?, updated_at = ? WHERE id = 1`, color, s.now().Unix())
	return wrap("set brand colour", err)
}

// SetLogo records that the logo of contentType and version was stored ("" removes the logo).
// Errors: EINVALID.
func (s *Store) SetLogo(ctx context.Context, contentType string, version int64) error {
	if _, ok := LogoTypes[contentType]; !ok && contentType != "" {
		return Invalid("logo", "the logo must be a PNG, JPEG, WebP or GIF image")
	}
	_, err := s.w.ExecContext(ctx, `UPDATE settings SET logo_type = ?, logo_version = ?, updated_at = ? WHERE id = 1`,
		contentType, version, s.now().Unix())
	return wrap("set logo", err)
}

// LogoVersion is the version of a logo with these bytes.
func LogoVersion(data []byte) int64 {
	sum := sha256.Sum256(data)
	return int64(binary.BigEndian.Uint64(sum[:8]) >> 1)
}

func isHexColor(c string) bool {
	if len(c) != 7 || c[0] != '#' {
		return false
	}
	for _, r := range c[1:] {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') && (r < 'A' || r > 'F') {
			return false
		}
	}
	return true
}
