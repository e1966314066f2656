package upload_test

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// fakeS3 is an in-memory S3 server with the few calls minio-go makes for
// Storage: bucket HEAD and location, object PUT (plain or aws-chunked
// streaming upload), GET, HEAD and DELETE, with path-style addressing. It
// checks that requests carry the expected access key, not the signatures.
type fakeS3 struct {
	bucket    string
	accessKey string
	now       func() time.Time

	mu      sync.Mutex
	objects map[string]fakeObject
	puts    int
}

type fakeObject struct {
	data        []byte
	contentType string
	modTime     time.Time
}

func newFakeS3(bucket, accessKey string) *fakeS3 {
	return &fakeS3{bucket: bucket, accessKey: accessKey, now: time.Now, objects: map[string]fakeObject{}}
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.Contains(r.Header.Get("Authorization"), "Credential="+f.accessKey+"/") {
		f.fail(w, r, http.StatusForbidden, "AccessDenied")
		return
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if bucket != f.bucket {
		f.fail(w, r, http.StatusNotFound, "NoSuchBucket")
		return
	}
	if key == "" {
		switch {
		case r.Method == http.MethodHead:
			w.WriteHeader(http.StatusOK)
		case r.Method == http.MethodGet && r.URL.Query().Has("location"):
			w.Header().Set("Content-Type", "application/xml")
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">us-east-1</LocationConstraint>`)
		default:
			f.fail(w, r, http.StatusNotImplemented, "NotImplemented")
		}
		return
	}
	switch r.Method {
	case http.MethodPut:
		data, err := readS3Body(r)
		if err != nil {
			f.fail(w, r, http.StatusBadRequest, "IncompleteBody")
			return
		}
		if want := r.Header.Get("X-Amz-Decoded-Content-Length"); want != "" && want != strconv.Itoa(len(data)) {
			f.fail(w, r, http.StatusBadRequest, "IncompleteBody")
			return
		}
		f.mu.Lock()
		f.objects[key] = fakeObject{data: data, contentType: r.Header.Get("Content-Type"), modTime: f.now().UTC().Truncate(time.Second)}
		f.puts++
		f.mu.Unlock()
		sum := md5.Sum(data)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
		w.WriteHeader(http.StatusOK)
	case http.MethodGet, http.MethodHead:
		f.mu.Lock()
		obj, ok := f.objects[key]
		f.mu.Unlock()
		if !ok {
			f.fail(w, r, http.StatusNotFound, "NoSuchKey")
			return
		}
		sum := md5.Sum(obj.data)
		h := w.Header()
		h.Set("Content-Length", strconv.Itoa(len(obj.data)))
		h.Set("Content-Type", obj.contentType)
		h.Set("Last-Modified", obj.modTime.Format(http.TimeFormat))
		h.Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(obj.data)
		}
	case http.MethodDelete:
		f.mu.Lock()
		delete(f.objects, key)
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		f.fail(w, r, http.StatusNotImplemented, "NotImplemented")
	}
}

func (f *fakeS3) fail(w http.ResponseWriter, r *http.Request, status int, code string) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	xml.NewEncoder(w).Encode(struct {
		XMLName  xml.Name `xml:"Error"`
		Code     string
		Message  string
		Resource string
	}{Code: code, Message: code, Resource: r.URL.Path})
}

func (f *fakeS3) object(key string) (fakeObject, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	obj, ok := f.objects[key]
	return obj, ok
}

// readS3Body reads a PUT body, decoding aws-chunked streaming uploads
// ("<hex size>;chunk-signature=<sig>\r\n<data>\r\n" … "0;…\r\n\r\n").
func readS3Body(r *http.Request) ([]byte, error) {
	if !strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-") {
		return io.ReadAll(r.Body)
	}
	br := bufio.NewReader(r.Body)
	var out bytes.Buffer
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		sizeHex, _, _ := strings.Cut(strings.TrimRight(line, "\r\n"), ";")
		n, err := strconv.ParseInt(sizeHex, 16, 64)
		if err != nil || n < 0 {
			return nil, errors.New("bad chunk header")
		}
		if n == 0 {
			return out.Bytes(), nil
		}
		if _, err := io.CopyN(&out, br, n); err != nil {
			return nil, err
		}
		if crlf, err := br.ReadString('\n'); err != nil || crlf != "\r\n" {
			return nil, errors.New("bad chunk trailer")
		}
	}
}
