package wxsim

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

const simUsage = `usage: wanjia sim [flags] <command> [args]

Acts as WeChat: sends a user's message or event to the Official Account
callback of a running wanjia and prints the passive reply.

commands:
  text TEXT                                   a text message
  event subscribe [--key qrscene_X] [--ticket T]  follow (via a QR code with --key)
  event unsubscribe                           unfollow
  click KEY                                   tap a click menu button
  view URL                                    tap a view menu button
  scan KEY                                    scan a QR code while following
  verify                                      URL verification (echostr)

flags:
`

// Main runs `wanjia sim`. args are the arguments after "sim"; getenv
// supplies the defaults WANJIA_OA_TOKEN, WANJIA_OA_AES_KEY, WANJIA_OA_APPID
// and WANJIA_HTTP_ADDR. It prints what it sent and the reply to stdout and
// returns an error when the command is malformed or the exchange fails
// (flag.ErrHelp for -h).
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("wanjia sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, simUsage)
		fs.PrintDefaults()
	}
	appID := getenv("WANJIA_OA_APPID")
	if appID == "" {
		appID = SandboxOAAppID
	}
	var s Sender
	fs.StringVar(&s.URL, "url", defaultCallbackURL(getenv("WANJIA_HTTP_ADDR")), "callback URL")
	fs.StringVar(&s.Token, "token", getenv("WANJIA_OA_TOKEN"), "callback token (default $WANJIA_OA_TOKEN)")
	fs.StringVar(&s.AESKey, "aes-key", getenv("WANJIA_OA_AES_KEY"), "EncodingAESKey, empty for plain mode (default $WANJIA_OA_AES_KEY)")
	fs.StringVar(&s.AppID, "appid", appID, "Official Account app id (default $WANJIA_OA_APPID or the sandbox app)")
	openID := fs.String("openid", SandboxOAOpenIDs[0], "the user's openid")
	timeout := fs.Duration("timeout", 10*time.Second, "time allowed for the exchange")
	raw := fs.Bool("raw", false, "also print the raw response body")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if s.Token == "" {
		return errors.New("sim: no callback token: pass --token or set WANJIA_OA_TOKEN (a sandbox server logs its token at startup)")
	}
	if s.AESKey != "" {
		if _, err := AESKey(s.AESKey); err != nil {
			return fmt.Errorf("sim: --aes-key: %w", err)
		}
	}
	s.HTTP = &http.Client{Timeout: *timeout}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return errors.New("sim: missing command")
	}
	mode := "plain"
	if s.AESKey != "" {
		mode = "safe mode"
	}
	if rest[0] == "verify" {
		if len(rest) != 1 {
			return errors.New("sim: verify takes no arguments")
		}
		if err := s.Verify(ctx); err != nil {
			return fmt.Errorf("sim: %w", err)
		}
		fmt.Fprintf(stdout, "verify ok (%s): %s echoes echostr and rejects a wrong signature\n", mode, s.URL)
		return nil
	}
	msg, err := buildMessage(rest, *openID, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "→ %s from %s to %s (%s)\n", describeMessage(msg), *openID, s.URL, mode)
	reply, body, err := s.Send(ctx, msg)
	if *raw || err != nil {
		fmt.Fprintf(stdout, "raw response: %s\n", truncate(string(body), 2000))
	}
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	fmt.Fprint(stdout, FormatReply(reply))
	return nil
}

func defaultCallbackURL(httpAddr string) string {
	host := "127.0.0.1:8080"
	if httpAddr != "" {
		host = httpAddr
		if strings.HasPrefix(host, ":") {
			host = "127.0.0.1" + host
		}
	}
	return "http://" + host + "/wechat/oa/callback"
}

// buildMessage turns a command line into the message to send.
func buildMessage(args []string, openID string, stderr io.Writer) (OAMessage, error) {
	want := func(n int, usage string) error {
		if len(args) != n {
			return fmt.Errorf("sim: usage: %s", usage)
		}
		return nil
	}
	switch args[0] {
	case "text":
		if err := want(2, "text TEXT"); err != nil {
			return OAMessage{}, err
		}
		return TextMessage(openID, args[1]), nil
	case "click":
		if err := want(2, "click KEY"); err != nil {
			return OAMessage{}, err
		}
		return EventMessage(openID, "CLICK", args[1]), nil
	case "view":
		if err := want(2, "view URL"); err != nil {
			return OAMessage{}, err
		}
		return EventMessage(openID, "VIEW", args[1]), nil
	case "scan":
		if err := want(2, "scan KEY"); err != nil {
			return OAMessage{}, err
		}
		m := EventMessage(openID, "SCAN", args[1])
		m.Ticket = "gQSim" + newNonce()
		return m, nil
	case "event":
		if len(args) < 2 {
			return OAMessage{}, errors.New("sim: usage: event subscribe [--key qrscene_X] | event unsubscribe")
		}
		efs := flag.NewFlagSet("wanjia sim event "+args[1], flag.ContinueOnError)
		efs.SetOutput(stderr)
		key := efs.String("key", "", "EventKey (qrscene_… when following via a QR code)")
		ticket := efs.String("ticket", "", "QR-code ticket (default: one is made up when --key is set)")
		if err := efs.Parse(args[2:]); err != nil {
			return OAMessage{}, err
		}
		if efs.NArg() != 0 {
			return OAMessage{}, fmt.Errorf("sim: unexpected arguments %q", efs.Args())
		}
		switch args[1] {
		case "subscribe":
			m := EventMessage(openID, "subscribe", *key)
			m.Ticket = *ticket
			if *key != "" && m.Ticket == "" {
				m.Ticket = "gQSim" + newNonce()
			}
			return m, nil
		case "unsubscribe":
			if *key != "" || *ticket != "" {
				return OAMessage{}, errors.New("sim: unsubscribe takes no --key or --ticket")
			}
			return EventMessage(openID, "unsubscribe", ""), nil
		}
		return OAMessage{}, fmt.Errorf("sim: unknown event %q (subscribe, unsubscribe)", args[1])
	}
	return OAMessage{}, fmt.Errorf("sim: unknown command %q (text, event, click, view, scan, verify)", args[0])
}

func describeMessage(m OAMessage) string {
	if m.MsgType != "event" {
		return fmt.Sprintf("%s %q", m.MsgType, m.Content)
	}
	if m.EventKey == "" {
		return "event " + m.Event
	}
	return fmt.Sprintf("event %s %q", m.Event, m.EventKey)
}

// FormatReply renders a passive reply for people, one line per item; a nil
// reply reads "no passive reply".
func FormatReply(r *Reply) string {
	if r == nil {
		return "← no passive reply (success)\n"
	}
	var b strings.Builder
	switch r.MsgType {
	case "text":
		fmt.Fprintf(&b, "← text: %s\n", r.Content)
	case "image", "voice":
		fmt.Fprintf(&b, "← %s: media_id %s\n", r.MsgType, r.MediaID)
	case "video":
		fmt.Fprintf(&b, "← video: media_id %s, %q %s\n", r.MediaID, r.Title, r.Description)
	case "music":
		fmt.Fprintf(&b, "← music: %q %s %s\n", r.Title, r.Description, r.MusicURL)
	case "news":
		fmt.Fprintf(&b, "← news, %d article(s):\n", len(r.Articles))
		for i, a := range r.Articles {
			fmt.Fprintf(&b, "   %d. %s — %s\n", i+1, a.Title, a.URL)
			if a.Description != "" {
				fmt.Fprintf(&b, "      %s\n", a.Description)
			}
		}
	case "transfer_customer_service":
		fmt.Fprintf(&b, "← transferred to customer service %s\n", r.KfAccount)
	default:
		fmt.Fprintf(&b, "← %s\n", r.MsgType)
	}
	return b.String()
}
