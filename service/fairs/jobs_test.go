package fairs_test

import (
	"context"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"wanjia/job"
	"wanjia/service/fairs"
)

func TestRegister(t *testing.T) {
	e := mustEnv(t, 1, 1)
	m := miniredis.RunT(t)
	rc := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rc.Close() })
	r, err := job.New(rc, job.Options{})
	if err != nil {
		t.Fatalf("job.New() = %v", err)
	}
	fairs.Register(r, e.svc)
	if err := r.Start(context.Background()); err != nil {
		t.Fatalf("Start() after Register = %v", err)
	}
	r.Shutdown()
}
