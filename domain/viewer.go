package domain

import "context"

// Viewer is who acts in a request: a dashboard user signed in to this business, or one of its
// API tokens. Requests without one are public (customers).
type Viewer struct {
	UserID  int64
	Name    string
	Role    Role
	StaffID int64  // the staff member a staff user is
	TokenID int64  // set when an API token is used
	Session string // the dashboard session's token, when signed in with a session
	Epoch   int64  // the user's session epoch when that session signed in
}

type viewerKey struct{}

// WithViewer returns ctx for requests made by v.
func WithViewer(ctx context.Context, v Viewer) context.Context {
	return context.WithValue(ctx, viewerKey{}, v)
}

// ViewerFrom returns the viewer of ctx, if any.
func ViewerFrom(ctx context.Context) (Viewer, bool) {
	v, ok := ctx.Value(viewerKey{}).(Viewer)
	return v, ok
}

// ViewerOf is the Viewer of a signed-in user.
func ViewerOf(u User) Viewer {
	return Viewer{UserID: u.ID, Name: u.Name, Role: u.Role, StaffID: u.StaffID, Epoch: u.SessionEpoch}
}
