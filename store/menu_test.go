package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wanjia/model"
	"wanjia/store"
	"wanjia/store/storetest"
)

func TestMenu(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ms := store.NewMenus(db)
		ctx := context.Background()
		if _, err := ms.Menu(ctx); !errors.Is(err, model.ErrNotFound) {
			t.Fatalf("Menu() before any save = %v, want ErrNotFound", err)
		}
		at := time.Date(2025, 3, 8, 9, 0, 0, 0, time.UTC)
		buttons := []model.MenuButton{
			{Name: "服务", SubButtons: []model.MenuButton{{Type: "click", Name: "求助", Key: "HELP"}}},
			{Type: "view", Name: "官网", URL: "https://example.com"},
		}
		m1, err := ms.SaveMenu(ctx, buttons, 7, at)
		if err != nil {
			t.Fatalf("SaveMenu() = %v", err)
		}
		want := model.Menu{Buttons: buttons, Revision: 1, UpdatedBy: 7, UpdatedAt: at}
		if diff := cmp.Diff(want, m1); diff != "" || m1.Published() {
			t.Errorf("SaveMenu() mismatch (-want +got):\n%s", diff)
		}
		pub, err := ms.MarkMenuPublished(ctx, 1, at.Add(time.Minute))
		if err != nil || !pub.Published() || !pub.PublishedAt.Equal(at.Add(time.Minute)) {
			t.Fatalf("MarkMenuPublished(1) = %+v, %v, want published", pub, err)
		}
		m2, err := ms.SaveMenu(ctx, buttons[:1], 8, at.Add(2*time.Minute))
		if err != nil || m2.Revision != 2 || m2.Published() || m2.PublishedRevision != 1 {
			t.Fatalf("SaveMenu() again = %+v, %v, want revision 2 not published", m2, err)
		}
		// A late mark of an older revision does not move the mark back.
		if _, err := ms.MarkMenuPublished(ctx, 2, at.Add(3*time.Minute)); err != nil {
			t.Fatal(err)
		}
		got, err := ms.MarkMenuPublished(ctx, 1, at.Add(4*time.Minute))
		if err != nil || got.PublishedRevision != 2 || !got.Published() {
			t.Errorf("MarkMenuPublished(1) after 2 = %+v, %v, want revision 2 kept", got, err)
		}
	})
}
