package wechat

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"wanjia/model"
)

// Limits of passive replies (WeChat shows one news article since 2018 and
// accepts at most 8).
const maxReplyArticles = 8

// ErrBadReply is returned by AppendReply for a reply WeChat would not
// show (an empty text, an image without media id, no articles, an unknown
// kind).
var ErrBadReply = errors.New("wechat callback: bad reply")

// AppendReply appends the plaintext passive-reply document of r to dst:
// to the follower toUser (the message's FromUser) from the account
// fromUser (the message's ToUser), created at now. Text, image and news
// replies are supported; every text value is CDATA with "]]>" split, and
// characters XML forbids are dropped, so no content can break the
// document.
func AppendReply(dst []byte, r *model.Reply, toUser, fromUser string, now time.Time) ([]byte, error) {
	if r == nil {
		return dst, fmt.Errorf("%w: nil", ErrBadReply)
	}
	switch r.Kind {
	case model.ReplyText:
		if strings.TrimSpace(r.Text) == "" {
			return dst, fmt.Errorf("%w: empty text", ErrBadReply)
		}
	case model.ReplyImage:
		if r.MediaID == "" {
			return dst, fmt.Errorf("%w: image without media id", ErrBadReply)
		}
	case model.ReplyNews:
		if len(r.Articles) == 0 || len(r.Articles) > maxReplyArticles {
			return dst, fmt.Errorf("%w: news needs 1 to %d articles, got %d", ErrBadReply, maxReplyArticles, len(r.Articles))
		}
	default:
		return dst, fmt.Errorf("%w: unknown kind %q", ErrBadReply, r.Kind)
	}
	dst = append(dst, "<xml><ToUserName><![CDATA["...)
	dst = appendCDATA(dst, toUser)
	dst = append(dst, "]]></ToUserName><FromUserName><![CDATA["...)
	dst = appendCDATA(dst, fromUser)
	dst = append(dst, "]]></FromUserName><CreateTime>"...)
	dst = strconv.AppendInt(dst, now.Unix(), 10)
	dst = append(dst, "</CreateTime><MsgType><![CDATA["...)
	dst = append(dst, r.Kind...)
	dst = append(dst, "]]></MsgType>"...)
	switch r.Kind {
	case model.ReplyText:
		dst = appendElem(dst, "Content", r.Text)
	case model.ReplyImage:
		dst = append(dst, "<Image>"...)
		dst = appendElem(dst, "MediaId", r.MediaID)
		dst = append(dst, "</Image>"...)
	case model.ReplyNews:
		dst = append(dst, "<ArticleCount>"...)
		dst = strconv.AppendInt(dst, int64(len(r.Articles)), 10)
		dst = append(dst, "</ArticleCount><Articles>"...)
		for _, a := range r.Articles {
			dst = append(dst, "<item>"...)
			dst = appendElem(dst, "Title", a.Title)
			dst = appendElem(dst, "Description", a.Description)
			dst = appendElem(dst, "PicUrl", a.PicURL)
			dst = appendElem(dst, "Url", a.URL)
			dst = append(dst, "</item>"...)
		}
		dst = append(dst, "</Articles>"...)
	}
	return append(dst, "</xml>"...), nil
}

func appendElem(dst []byte, name, v string) []byte {
	dst = append(dst, '<')
	dst = append(dst, name...)
	dst = append(dst, "><![CDATA["...)
	dst = appendCDATA(dst, v)
	dst = append(dst, "]]></"...)
	dst = append(dst, name...)
	return append(dst, '>')
}

// appendCDATA appends s for use inside a CDATA section: "]]>" is split
// across two sections, invalid UTF-8 becomes U+FFFD and characters outside
// XML 1.0's Char production are dropped.
func appendCDATA(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf {
			if c == ']' && strings.HasPrefix(s[i:], "]]>") {
				dst = append(dst, "]]]]><![CDATA[>"...)
				i += 3
				continue
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			dst = append(dst, byte(r))
		case r < 0x20, r == 0xFFFE, r == 0xFFFF, r >= 0xD800 && r <= 0xDFFF:
			// not an XML character: dropped
		default:
			dst = utf8.AppendRune(dst, r) // RuneError for invalid UTF-8
		}
	}
	return dst
}
