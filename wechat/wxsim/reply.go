package wxsim

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
)

// Reply is a passive reply of an Official Account callback.
type Reply struct {
	ToUserName   string
	FromUserName string
	CreateTime   int64
	MsgType      string // text, image, voice, video, music, news, transfer_customer_service
	Content      string // text
	MediaID      string // image, voice, video
	Title        string // video, music
	Description  string // video, music
	MusicURL     string
	HQMusicURL   string
	ThumbMediaID string
	Articles     []ReplyArticle // news
	KfAccount    string         // transfer_customer_service
}

// ReplyArticle is one article of a news reply.
type ReplyArticle struct {
	Title       string `xml:"Title"`
	Description string `xml:"Description"`
	PicURL      string `xml:"PicUrl"`
	URL         string `xml:"Url"`
}

// ErrBadReply is wrapped by the errors of ParseReply and of Sender.Send
// when the server's answer is not a valid passive reply.
var ErrBadReply = errors.New("wxsim: bad reply")

// replyXML is the union of the passive reply documents.
type replyXML struct {
	XMLName      xml.Name `xml:"xml"`
	ToUserName   string   `xml:"ToUserName"`
	FromUserName string   `xml:"FromUserName"`
	CreateTime   int64    `xml:"CreateTime"`
	MsgType      string   `xml:"MsgType"`
	Content      string   `xml:"Content"`
	Image        struct {
		MediaID string `xml:"MediaId"`
	} `xml:"Image"`
	Voice struct {
		MediaID string `xml:"MediaId"`
	} `xml:"Voice"`
	Video struct {
		MediaID     string `xml:"MediaId"`
		Title       string `xml:"Title"`
		Description string `xml:"Description"`
	} `xml:"Video"`
	Music struct {
		Title        string `xml:"Title"`
		Description  string `xml:"Description"`
		MusicURL     string `xml:"MusicUrl"`
		HQMusicURL   string `xml:"HQMusicUrl"`
		ThumbMediaID string `xml:"ThumbMediaId"`
	} `xml:"Music"`
	ArticleCount int            `xml:"ArticleCount"`
	Articles     []ReplyArticle `xml:"Articles>item"`
	TransInfo    struct {
		KfAccount string `xml:"KfAccount"`
	} `xml:"TransInfo"`
}

// ParseReply parses a plaintext passive reply document. It returns an error
// wrapping ErrBadReply when the document is not an <xml> reply of a known
// type with the fields that type needs (WeChat shows nothing, or "该公众号暂时
// 无法提供服务", for such replies).
func ParseReply(doc []byte) (*Reply, error) {
	var x replyXML
	dec := xml.NewDecoder(bytes.NewReader(doc))
	if err := dec.Decode(&x); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadReply, err)
	}
	r := &Reply{
		ToUserName: x.ToUserName, FromUserName: x.FromUserName, CreateTime: x.CreateTime, MsgType: x.MsgType,
	}
	if r.ToUserName == "" || r.FromUserName == "" {
		return nil, fmt.Errorf("%w: ToUserName and FromUserName are required", ErrBadReply)
	}
	switch x.MsgType {
	case "text":
		r.Content = x.Content
	case "image":
		r.MediaID = x.Image.MediaID
	case "voice":
		r.MediaID = x.Voice.MediaID
	case "video":
		r.MediaID, r.Title, r.Description = x.Video.MediaID, x.Video.Title, x.Video.Description
	case "music":
		r.Title, r.Description = x.Music.Title, x.Music.Description
		r.MusicURL, r.HQMusicURL, r.ThumbMediaID = x.Music.MusicURL, x.Music.HQMusicURL, x.Music.ThumbMediaID
	case "news":
		r.Articles = x.Articles
		switch {
		case len(r.Articles) == 0 || len(r.Articles) > 8:
			return nil, fmt.Errorf("%w: news needs 1 to 8 articles, got %d", ErrBadReply, len(r.Articles))
		case x.ArticleCount != len(r.Articles):
			return nil, fmt.Errorf("%w: ArticleCount %d but %d articles", ErrBadReply, x.ArticleCount, len(r.Articles))
		}
	case "transfer_customer_service":
		r.KfAccount = x.TransInfo.KfAccount
	default:
		return nil, fmt.Errorf("%w: unknown MsgType %q", ErrBadReply, x.MsgType)
	}
	if (x.MsgType == "image" || x.MsgType == "voice" || x.MsgType == "video") && r.MediaID == "" {
		return nil, fmt.Errorf("%w: %s reply without MediaId", ErrBadReply, x.MsgType)
	}
	return r, nil
}

// envelopeXML is a safe-mode reply: the encrypted reply and its signature.
type envelopeXML struct {
	XMLName      xml.Name `xml:"xml"`
	Encrypt      string   `xml:"Encrypt"`
	MsgSignature string   `xml:"MsgSignature"`
	TimeStamp    string   `xml:"TimeStamp"`
	Nonce        string   `xml:"Nonce"`
}

// OpenReply checks and decrypts a safe-mode reply envelope: the
// MsgSignature must be Signature(token, TimeStamp, Nonce, Encrypt) and the
// message must be encrypted for appID. It returns the plaintext reply
// document, which is empty when the server had nothing to say.
func OpenReply(token, appID, encodingAESKey string, body []byte) ([]byte, error) {
	var env envelopeXML
	if err := xml.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%w: envelope: %v", ErrBadReply, err)
	}
	if env.Encrypt == "" {
		return nil, fmt.Errorf("%w: reply is not encrypted", ErrBadReply)
	}
	if env.MsgSignature != Signature(token, env.TimeStamp, env.Nonce, env.Encrypt) {
		return nil, fmt.Errorf("%w: MsgSignature does not match", ErrBadReply)
	}
	msg, err := Decrypt(appID, encodingAESKey, env.Encrypt)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReply, err)
	}
	return msg, nil
}

// isNoReply reports whether body means "no passive reply": empty or
// "success".
func isNoReply(body []byte) bool {
	s := strings.TrimSpace(string(body))
	return s == "" || s == "success"
}
