# Reserva. `make run` serves the platform on ./data; `make test` checks everything CI checks.
GO ?= go
ADDR ?= 127.0.0.1:8080

.PHONY: run build test vet lint generate check-generated bench fuzz crashtest clustertest

run: build
	./bin/reserva serve --addr $(ADDR)

build:
	$(GO) build -o bin/reserva .

test: vet lint check-generated
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -race ./tenancy/... ./ops/... ./domain/... ./jobs/...
	$(MAKE) --no-print-directory fuzz

# kill -9 a real server while customers book, restart, repeat; then check every acknowledged
# booking, double bookings, integrity and serving (make test runs 3 rounds over 6 businesses);
# and kill -9 sign-ups (reserva tenants create), then check what start-up leaves. With a
# replica on versitygw: kill -9, delete the data directory, recover from the replica (make test
# runs 2 rounds of each of sync and async acknowledgement).
crashtest:
	RESERVA_CRASH_ROUNDS=10 RESERVA_CRASH_TENANTS=12 RESERVA_CRASH_SIGNUPS=30 RESERVA_REPLICA_ROUNDS=10 $(GO) test -count=1 -v \
		-run 'TestKillDuringBookings|TestKillDuringSignUp|TestRecoverAfterDiskLoss' ./internal/crashtest/

# Issue #23's proof: versitygw, three `serve --cluster` nodes, businesses signed up over HTTP,
# bookings to random nodes; kill -9 an owner, SIGSTOP one for 15 s, kill -9 the controller (a
# sign-up must then succeed), a rolling restart, planned moves; after each, every acknowledged
# booking once in its owner's file, no overlaps, integrity_check, no acknowledgement in a
# superseded epoch, no claim storm; prints the time to the first acknowledged write per fault (make test runs the
# kill -9 only, over 6 businesses). RESERVA_CLUSTER_LOGS=DIR keeps the nodes' logs.
clustertest:
	RESERVA_CLUSTER_PROOF=full $(GO) test -count=1 -v -run 'TestClusterProof' ./internal/crashtest/

# Each fuzz target for a short while (seed corpora in */testdata/fuzz); FUZZTIME=10m for a real hunt.
FUZZTIME ?= 3s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzValidateSlug$$' -fuzztime $(FUZZTIME) ./tenancy/
	$(GO) test -run '^$$' -fuzz '^FuzzResolvePath$$' -fuzztime $(FUZZTIME) ./web/
	$(GO) test -run '^$$' -fuzz '^FuzzParseDate$$' -fuzztime $(FUZZTIME) ./domain/
	$(GO) test -run '^$$' -fuzz '^FuzzCalendarText$$' -fuzztime $(FUZZTIME) ./domain/
	$(GO) test -run '^$$' -fuzz '^FuzzDateAt$$' -fuzztime $(FUZZTIME) ./domain/
	$(GO) test -run '^$$' -fuzz '^FuzzFormDecoding$$' -fuzztime $(FUZZTIME) ./web/
	$(GO) test -run '^$$' -fuzz '^FuzzCreateBookingInput$$' -fuzztime $(FUZZTIME) ./graph/

# .golangci.yml: errcheck, errorlint, ineffassign, staticcheck, revive; zero findings.
lint:
	$(GO) tool golangci-lint run ./...

vet:
	@unformatted=$$(find . -name '*.go' -not -name '*_templ.go' -not -path './data/*' | xargs gofmt -l); \
		test -z "$$unformatted" || { echo "gofmt needed on: $$unformatted"; exit 1; }
	$(GO) vet ./...

# gqlgen starts a goroutine per element of every list of objects, with no option to turn it off;
# on a small machine the wake-ups cost more than the work, so lists are marshalled in order
# (graph/marshalslice.go). .ci/check-generated runs this target.
generate:
	$(GO) tool templ generate
	$(GO) tool gqlgen generate
	sed 's/graphql\.MarshalSliceConcurrently(/marshalSliceInOrder(/' graph/generated.go > graph/generated.go.tmp
	mv graph/generated.go.tmp graph/generated.go

# Fails when the committed generated code differs from what the pinned generators make.
check-generated:
	.ci/check-generated

# The whole system from outside (internal/loadtest: 10,000 businesses, a real server, mixed
# traffic, noisy neighbour, memory; figures in bench.json), replication (sync against no
# replica, async lag, 1,024 replicated businesses, recover; bench-replication.json), then the
# component benchmarks. `make bench CLUSTER=3` measures a cluster of 3 `serve --cluster` nodes
# against one node instead (issue #23; bench-cluster.json).
bench: build
ifneq ($(CLUSTER),)
	$(GO) run ./internal/loadtest -bin bin/reserva -cluster $(CLUSTER) -out bench-cluster.json
else
	$(GO) run ./internal/loadtest -bin bin/reserva -out bench.json
	$(GO) run ./internal/loadtest -bin bin/reserva -replication -out bench-replication.json
	$(GO) test -run '^$$' -bench . ./domain/
	$(GO) test -run '^$$' -bench AvailabilityHTTP ./graph/
	$(GO) test -run '^$$' -bench Fleet -benchtime 1x ./jobs/
	$(GO) test -run '^$$' -bench 'Provision|Cold|LazyMigration' -benchtime 300x ./tenancy/
	$(GO) test -run '^$$' -bench 'OpenHandleRSS' -benchtime 1x ./tenancy/
endif
