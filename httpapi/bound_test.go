package httpapi

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/bwmon/bwmon/model"
)

func TestBoundSnapshot(t *testing.T) {
	app := func(name string, in uint64, procs int) model.AppUsage {
		return model.AppUsage{App: name, BytesIn: in, RateIn: float64(in), Processes: procs}
	}
	withLimit := func(n int, apps ...model.AppUsage) *model.Snapshot {
		return &model.Snapshot{Apps: apps, Agent: model.AgentStats{Limits: model.Limits{Apps: n}}}
	}
	tests := []struct {
		name     string
		in       *model.Snapshot
		want     []model.AppUsage // App, BytesIn, RateIn, Processes and Folded compared
		wantSame bool             // snap itself is returned
	}{
		{
			name:     "clean and within the limit: untouched",
			in:       withLimit(2, app("curl", 1, 1), app("ssh", 2, 1), app(model.OtherApp, 3, 0)),
			want:     []model.AppUsage{app("curl", 1, 1), app("ssh", 2, 1), app(model.OtherApp, 3, 0)},
			wantSame: true,
		},
		{
			name: "names cleaned",
			in:   withLimit(5, app("x\xffy", 1, 1), app("\u009b/\u202e", 2, 1)),
			want: []model.AppUsage{app(`x\xffy`, 1, 1), app(`\u009b/\u202e`, 2, 1)},
		},
		{
			name: "names that clean to the same are one app",
			in:   withLimit(5, app("x\xffy", 1, 1), app(`x\xffy`, 2, 3)),
			want: []model.AppUsage{app(`x\xffy`, 3, 4)},
		},
		{
			name: "beyond the limit folded into a new other row",
			in:   withLimit(2, app("a", 5, 1), app("b", 4, 1), app("c", 3, 2), app("d", 2, 1)),
			want: []model.AppUsage{app("a", 5, 1), app("b", 4, 1), {App: model.OtherApp, BytesIn: 5, RateIn: 5, Processes: 3, Folded: 2}},
		},
		{
			name: "beyond the limit folded into the snapshot's other row",
			in: withLimit(1, app("a", 5, 1), app("b", 4, 1),
				model.AppUsage{App: model.OtherApp, BytesIn: 100, RateIn: 100, Processes: 7, Folded: 40}),
			want: []model.AppUsage{app("a", 5, 1), {App: model.OtherApp, BytesIn: 104, RateIn: 104, Processes: 8, Folded: 41}},
		},
		{
			name: "two other rows are one",
			in: withLimit(5, model.AppUsage{App: model.OtherApp, BytesIn: 1, Folded: 2}, app("a", 5, 1),
				model.AppUsage{App: model.OtherApp, BytesIn: 10, Folded: 20}),
			want: []model.AppUsage{{App: model.OtherApp, BytesIn: 11, Folded: 22}, app("a", 5, 1)},
		},
		{
			name: "no limit in the snapshot: the default",
			in:   manyApps(t0, model.DefaultLimitApps+3, 0),
			want: nil, // checked below by length
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := fmt.Sprintf("%+v", tt.in.Apps)
			got := boundSnapshot(tt.in)
			if after := fmt.Sprintf("%+v", tt.in.Apps); after != before {
				t.Fatalf("the snapshot handed in was changed:\n%s\nnow\n%s", before, after)
			}
			if (got == tt.in) != tt.wantSame {
				t.Fatalf("returned the snapshot itself: %v, want %v", got == tt.in, tt.wantSame)
			}
			if tt.want == nil {
				if len(got.Apps) != model.DefaultLimitApps+1 || got.Apps[len(got.Apps)-1].Folded != 3 {
					t.Fatalf("%d apps, the last %+v; want %d, the last folding 3", len(got.Apps), got.Apps[len(got.Apps)-1], model.DefaultLimitApps+1)
				}
				return
			}
			var short []model.AppUsage
			for _, a := range got.Apps {
				short = append(short, model.AppUsage{App: a.App, BytesIn: a.BytesIn, RateIn: a.RateIn, Processes: a.Processes, Folded: a.Folded})
			}
			if !reflect.DeepEqual(short, tt.want) {
				t.Fatalf("apps\n%+v\nwant\n%+v", short, tt.want)
			}
		})
	}
}
