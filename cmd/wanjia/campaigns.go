package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"wanjia/cache"
	"wanjia/config"
	"wanjia/job"
	"wanjia/model"
	"wanjia/service/campaigns"
	"wanjia/service/campaigns/campaignwx"
	"wanjia/service/gateway"
	"wanjia/service/gateway/adapters"
	"wanjia/service/protect"
	"wanjia/service/upload"
	"wanjia/store"
	"wanjia/wechat"
)

// sandboxPublicURL is where WeChat would fetch photos in sandbox: the
// simulator answers media checks without fetching anything.
const sandboxPublicURL = "https://sandbox.wanjia.invalid"

// campaignDeps are what openCampaigns wires the 最美家庭 service from.
type campaignDeps struct {
	cfg      *config.Config
	log      *slog.Logger
	reg      prometheus.Registerer
	db       *store.DB
	rdb      redis.UniversalClient
	wx       *wechat.Client
	files    upload.Storage
	keys     *protect.Keyring
	jobs     *job.Runner
	gateway  *gateway.Service
	notifier campaigns.Notifier
	audit    campaigns.Auditor
}

// openCampaigns builds the 最美家庭 service and hooks it into the job
// runner (media checks, fixing results, sweeps) and the gateway (the
// "campaign" intent, media-check results). It rebuilds the leaderboards of
// the campaigns being voted on: a copy that was killed between a commit
// and its Redis write left them up to one batch behind. Close it after the
// HTTP server stopped and before the database closes: it writes the votes
// still queued.
func openCampaigns(ctx context.Context, d campaignDeps) (*campaigns.Service, error) {
	opts := campaigns.Options{
		SharePage: d.cfg.Campaigns.SharePage, VotesPerIPMinute: d.cfg.Campaigns.VotesPerIPMinute,
		VotesPerDeviceMinute: d.cfg.Campaigns.VotesPerDeviceMinute, CommitWriters: d.cfg.Campaigns.VoteWriters,
		MetaTTL: d.cfg.Campaigns.CacheTTL, GalleryTTL: d.cfg.Campaigns.CacheTTL,
	}
	base := d.cfg.Campaigns.PublicURL
	if base == "" && d.cfg.Sandbox() {
		base = sandboxPublicURL
	}
	if base != "" {
		prefix := strings.TrimRight(base, "/") + "/api/files/"
		opts.PhotoURL = func(key string) string { return prefix + key }
	}
	svc, err := campaigns.New(campaigns.Deps{
		Store: store.NewCampaigns(d.db), Users: store.NewUsers(d.db), Uploads: store.NewUploads(d.db),
		Results: store.NewResults(d.db), WeChat: campaignwx.New(d.wx, d.cfg.Campaigns.SharePage, ""),
		Images: shareImages{upload.New(d.files, upload.Options{MaxSize: d.cfg.Uploads.MaxSize})},
		Cache:  cache.NewVotes(d.rdb), Jobs: adapters.NewJobs(d.jobs), Notifier: d.notifier, Audit: d.audit, Keys: d.keys,
		Logger: d.log, Registerer: d.reg, Options: opts,
	})
	if err != nil {
		return nil, err
	}
	campaigns.Register(d.jobs, svc)
	d.gateway.RegisterProvider("campaign", svc.Reply)
	d.gateway.RegisterResultSink(model.ResultMediaCheck, svc.MediaCheckResult)
	if err := svc.RebuildVotingLeaderboards(ctx); err != nil {
		d.log.Warn("campaigns: rebuild leaderboards at start", "err", err) // the periodic rebuild retries
	}
	return svc, nil
}

// shareImages stores share-code images in the upload storage (checked and
// keyed like uploads, without an owner record): campaigns.Images.
type shareImages struct{ files *upload.Service }

func (s shareImages) SaveImage(ctx context.Context, data []byte) (string, error) {
	st, err := s.files.Save(ctx, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", err
	}
	return st.Key, nil
}

func (s shareImages) DeleteImage(ctx context.Context, key string) error {
	return s.files.Delete(ctx, key)
}
