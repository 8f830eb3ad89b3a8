package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/reserva/reserva/domain"
	"github.com/reserva/reserva/tenancy"
)

// Found in review; kept as tests of the fixed behaviour.

// leaseTenant resolves slug and leases its handle; the caller releases it.
func leaseTenant(ctx context.Context, t *testing.T, slug string) *tenancy.Lease {
	t.Helper()
	tn, _, err := manager.Resolve(ctx, slug)
	if err != nil {
		t.Fatal(err)
	}
	l, err := manager.Acquire(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func execTenant(t *testing.T, slug, sql string) {
	t.Helper()
	ctx := context.Background()
	l := leaseTenant(ctx, t, slug)
	defer l.Release()
	if _, err := l.DB.Write.Exec(sql); err != nil {
		t.Fatal(err)
	}
}

// A resolver's internal failure reaches the client only as "internal error".
func TestInternalErrorHidden(t *testing.T) {
	srv := server(t)
	execTenant(t, "acme", `DROP TABLE resources`)
	errs := doAs(t, srv, "acme", tokens["acme"][domain.RoleStaff], `{ resources { id } }`, nil, nil)
	if len(errs) == 0 || errs[0].Message != "internal error" || code(errs) != "INTERNAL" {
		t.Errorf("internal error presented as %+v", errs)
	}
}

// A token never acts with more than its creator can now.
func TestTokenFollowsItsUsersRole(t *testing.T) {
	srv := server(t)
	owner := tokens["acme"][domain.RoleOwner]
	execTenant(t, "acme", `UPDATE users SET role = 'staff' WHERE id = 1`)
	var me struct{ Me struct{ Role string } }
	if errs := doAs(t, srv, "acme", owner, `{ me { role } }`, nil, &me); errs != nil || me.Me.Role != "STAFF" {
		t.Errorf("demoted creator's owner token acts as %q (%+v)", me.Me.Role, errs)
	}
	if errs := doAs(t, srv, "acme", owner, `{ users { email } }`, nil, nil); code(errs) != "FORBIDDEN" {
		t.Errorf("demoted creator's token lists users: %+v", errs)
	}
	execTenant(t, "acme", `DELETE FROM users WHERE id = 1`)
	if errs := doAs(t, srv, "acme", owner, `{ me { role } }`, nil, nil); code(errs) != "UNAUTHENTICATED" {
		t.Errorf("token of a removed user: %+v", errs)
	}
}

// Aliases cannot multiply expensive availability computations past the complexity limit.
func TestAvailabilityComplexity(t *testing.T) {
	srv := server(t)
	from := time.Now().Format(time.DateOnly)
	to := time.Now().AddDate(0, 0, 61).Format(time.DateOnly)
	one := fmt.Sprintf(`availability(serviceId: "1", from: "%s", to: "%s") { date }`, from, to)
	if errs := do(t, srv, "acme", "{ "+one+" }", nil, nil); errs != nil {
		t.Fatalf("one 62-day query: %+v", errs)
	}
	var b strings.Builder
	b.WriteString("{")
	for i := range 10 {
		fmt.Fprintf(&b, " a%d: %s", i, one)
	}
	b.WriteString("}")
	if errs := do(t, srv, "acme", b.String(), nil, nil); code(errs) != "COMPLEXITY_LIMIT_EXCEEDED" {
		t.Errorf("10 aliased 62-day queries: %+v", errs)
	}
}

// Fragments spreading each other twice are measured in linear time and rejected. (Measured
// naively, 40 of them would take days: this test would then run into go test's timeout.)
func TestFragmentBlowup(t *testing.T) {
	srv := server(t)
	const n = 40
	var b strings.Builder
	b.WriteString("{ ...F0 }\n")
	for i := range n {
		fmt.Fprintf(&b, "fragment F%d on Query { ...F%d ...F%d }\n", i, i+1, i+1)
	}
	fmt.Fprintf(&b, "fragment F%d on Query { business { name } }\n", n)
	if errs := do(t, srv, "acme", b.String(), nil, nil); code(errs) != "COMPLEXITY_LIMIT_EXCEEDED" {
		t.Errorf("%d nested fragments: %+v", n, errs)
	}
}

// A request that is not GraphQL over JSON gets a coded error that says what to send, like every
// other client error: gqlgen answered "transport not supported" without a code, and a browser's
// fetch with a string body sends text/plain unless told otherwise.
func TestNotJSONRequestHasCode(t *testing.T) {
	srv := server(t)
	for _, ct := range []string{"text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "application/graphql", ""} {
		t.Run(ct, func(t *testing.T) {
			req, err := http.NewRequest("POST", srv.URL+"/acme/graphql", strings.NewReader(`{"query":"{ business { name } }"}`))
			if err != nil {
				t.Fatal(err)
			}
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = res.Body.Close() }()
			var body struct{ Errors []gqlError }
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != http.StatusUnsupportedMediaType || code(body.Errors) != "BAD_REQUEST" ||
				!strings.Contains(body.Errors[0].Message, "application/json") {
				t.Errorf("%d %+v; want 415 BAD_REQUEST naming application/json", res.StatusCode, body.Errors)
			}
		})
	}
}

// extensions.field names the input field the client sent (durationMinutes), not the domain's
// name for it (duration): a client puts the message beside that field of its form.
func TestInvalidFieldNamesTheInput(t *testing.T) {
	srv := server(t)
	owner := tokens["acme"][domain.RoleOwner]
	for _, tc := range []struct{ query, field string }{
		{`mutation { updateSettings(input: {slotStepMinutes: 7}) { name } }`, "slotStepMinutes"},
		{`mutation { updateSettings(input: {minNoticeMinutes: -1}) { name } }`, "minNoticeMinutes"},
		{`mutation { updateSettings(input: {horizonDays: 0}) { name } }`, "horizonDays"},
		{`mutation { updateSettings(input: {cancelCutoffMinutes: -1}) { name } }`, "cancelCutoffMinutes"},
		{`mutation { createService(input: {name: "X", durationMinutes: 1, priceAmount: 1}) { id } }`, "durationMinutes"},
		{`mutation { createService(input: {name: "X", durationMinutes: 60, priceAmount: -1}) { id } }`, "priceAmount"},
		{`mutation { createService(input: {name: "X", durationMinutes: 60, priceAmount: 1, bufferBeforeMinutes: 999}) { id } }`, "bufferBeforeMinutes"},
		{`mutation { updateService(id: "1", input: {name: "X", durationMinutes: 60, priceAmount: 1, bufferAfterMinutes: 999}) { id } }`, "bufferAfterMinutes"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			errs := doAs(t, srv, "acme", owner, tc.query, nil, nil)
			if code(errs) != "BAD_USER_INPUT" || errs[0].Extensions["field"] != tc.field || !strings.HasPrefix(errs[0].Message, tc.field+": ") {
				t.Errorf("%+v; want BAD_USER_INPUT on field %s", errs, tc.field)
			}
		})
	}
}
