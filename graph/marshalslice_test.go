package graph

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
)

// The generated code marshals lists through marshalSliceInOrder (make generate rewrites gqlgen's
// goroutine-per-element call); regenerating without that step would bring the goroutines back.
func TestGeneratedListsMarshalInOrder(t *testing.T) {
	src, err := os.ReadFile("generated.go")
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(src, []byte("graphql.MarshalSliceConcurrently(")); n > 0 {
		t.Fatalf("generated.go calls graphql.MarshalSliceConcurrently %d times: run make generate", n)
	}
	if !bytes.Contains(src, []byte("marshalSliceInOrder(")) {
		t.Fatal("generated.go never calls marshalSliceInOrder")
	}
}

func TestMarshalSliceInOrder(t *testing.T) {
	quietRecover := func(_ context.Context, err any) error { return fmt.Errorf("internal system error: %v", err) }
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, quietRecover)
	var order []int
	ret := marshalSliceInOrder(ctx, 4, 0, false, func(ctx context.Context, i int) graphql.Marshaler {
		order = append(order, i)
		if got := *graphql.GetFieldContext(ctx).Index; got != i {
			t.Errorf("element %d sees index %d", i, got)
		}
		if i == 2 {
			panic("element 2 broke")
		}
		return graphql.MarshalInt(i * 10)
	})
	if want := []int{0, 1, 2, 3}; !slices.Equal(order, want) {
		t.Fatalf("elements marshalled in order %v, want %v", order, want)
	}
	var buf bytes.Buffer
	ret.MarshalGQL(&buf)
	if got := buf.String(); got != "[0,10,null,30]" {
		t.Fatalf("list = %s, want [0,10,null,30]", got)
	}
	errs := graphql.GetErrors(ctx)
	if len(errs) != 1 || !strings.Contains(errs[0].Message, "element 2 broke") {
		t.Fatalf("errors = %v, want the panic reported once", errs)
	}
}
