package upload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"wanjia/model"
)

// S3Options configure an S3-compatible object store (AWS S3, MinIO, Aliyun
// OSS, Tencent COS, …).
type S3Options struct {
	Endpoint  string // host[:port], without a scheme
	Bucket    string
	AccessKey string
	SecretKey string
	UseSSL    bool
	// Region is the bucket's region. Empty asks the server once (an extra
	// request at first use).
	Region string
	// VirtualHostStyle addresses the bucket as <bucket>.<endpoint>, as
	// Aliyun OSS requires; by default the client picks path style for
	// endpoints other than AWS and Google.
	VirtualHostStyle bool
}

// S3 is a Storage in an S3-compatible bucket. Errors other than a missing
// object wrap model.ErrUnavailable.
type S3 struct {
	client *minio.Client
	bucket string
}

var _ Storage = (*S3)(nil)

// NewS3 returns an S3 for opts. It does not contact the server; call Ping
// to check the bucket at start.
func NewS3(opts S3Options) (*S3, error) {
	if opts.Endpoint == "" || strings.Contains(opts.Endpoint, "://") || strings.ContainsAny(opts.Endpoint, "/?#") {
		return nil, errors.New("s3: endpoint must be host[:port], without scheme or path")
	}
	if err := s3utils.CheckValidBucketNameStrict(opts.Bucket); err != nil {
		return nil, fmt.Errorf("s3: bucket: %w", err)
	}
	if opts.AccessKey == "" || opts.SecretKey == "" {
		return nil, errors.New("s3: access key and secret key are required")
	}
	lookup := minio.BucketLookupAuto
	if opts.VirtualHostStyle {
		lookup = minio.BucketLookupDNS
	}
	client, err := minio.New(opts.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(opts.AccessKey, opts.SecretKey, ""),
		Secure:       opts.UseSSL,
		Region:       opts.Region,
		BucketLookup: lookup,
		// The request context bounds the whole call; a few retries are
		// enough for a blip, more only delay the error.
		MaxRetries: 3,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	return &S3{client: client, bucket: opts.Bucket}, nil
}

// Ping checks that the bucket exists and the credentials can reach it.
func (s *S3) Ping(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return s.wrap("ping", "", err)
	}
	if !ok {
		return fmt.Errorf("s3 ping: bucket %q does not exist: %w", s.bucket, model.ErrUnavailable)
	}
	return nil
}

// Put implements Storage.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := checkPut(key, contentType); err != nil {
		return err
	}
	_, err := s.client.PutObject(ctx, s.bucket, key, r, size, minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		return s.wrap("put", key, err)
	}
	return nil
}

// Open implements Storage.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	if err := checkKey(key); err != nil {
		return nil, Info{}, err
	}
	obj, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, Info{}, s.wrap("open", key, err)
	}
	oi, err := obj.Stat() // sends the GET
	if err != nil {
		obj.Close()
		return nil, Info{}, s.wrap("open", key, err)
	}
	ct := oi.ContentType
	if ct == "" || ct == "application/octet-stream" {
		ct, _ = KeyContentType(key)
	}
	return obj, Info{Size: oi.Size, ContentType: ct, ModTime: oi.LastModified}, nil
}

// Delete implements Storage.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		if isNoSuchKey(err) {
			return nil
		}
		return s.wrap("delete", key, err)
	}
	return nil
}

func (s *S3) wrap(op, key string, err error) error {
	switch {
	case isNoSuchKey(err):
		return fmt.Errorf("s3 %s %s: %w", op, key, model.ErrNotFound)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("s3 %s %s: %w", op, key, err)
	}
	return fmt.Errorf("s3 %s %s: %w", op, key, model.Wrap(model.ErrUnavailable, err, "图片存储暂时不可用，请稍后重试"))
}

func isNoSuchKey(err error) bool {
	resp := minio.ToErrorResponse(err)
	return resp.Code == minio.NoSuchKey || (resp.StatusCode == http.StatusNotFound && resp.Code != minio.NoSuchBucket)
}
