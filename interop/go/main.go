// etcd-interop: a Go peer for the TypeScript integration tests (test/integration/go-interop.test.ts).
//
// It drives etcd's own Go client (go.etcd.io/etcd/client/v3) the way a Go service would: naming/endpoints
// Manager, the naming/resolver grpc-go resolver, and concurrency Mutex / Election.
//
// Usage: etcd-interop --endpoints http://127.0.0.1:2379
//
// Line protocol, one JSON object per line:
//
//	stdin   {"id":N,"op":"…",…}        a command (fields below)
//	stdout  {"event":"ready"}           once, after the client has reached etcd
//	stdout  {"id":N,"ok":true,…}        the command's reply (results inline)
//	stdout  {"id":N,"error":"…","code":"…"}
//	stdout  {"event":"watch"|"observe","handle":"…",…}   what a watch or observe started by a command reports
//
// Every command runs in its own goroutine, so a blocking one (lock, campaign) answers when it is done while
// later commands go on; replies carry the command's id. Objects that outlive a command (watches, gRPC
// connections, held locks, elections) are named by the command's "handle". Closing stdin ends the program.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.etcd.io/etcd/client/v3/naming/endpoints"
	"go.etcd.io/etcd/client/v3/naming/resolver"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// command is every field any op uses; each op reads the ones it needs.
type command struct {
	ID       int64           `json:"id"`
	Op       string          `json:"op"`
	Handle   string          `json:"handle"`
	Target   string          `json:"target"`
	Key      string          `json:"key"`
	Addr     string          `json:"addr"`
	Metadata json.RawMessage `json:"metadata"`
	Name     string          `json:"name"`
	Value    string          `json:"value"`
	TTL      int             `json:"ttl"`
}

// endpoint is how an endpoints.Update or a List entry is reported.
type endpoint struct {
	Op       string `json:"op,omitempty"`
	Key      string `json:"key"`
	Addr     string `json:"addr"`
	Metadata any    `json:"metadata"`
}

type peer struct {
	cli *clientv3.Client
	out *json.Encoder
	mu  sync.Mutex // guards out and the maps below

	cancels   map[string]context.CancelFunc // watches and observes
	conns     map[string]*grpc.ClientConn
	mutexes   map[string]*heldMutex
	elections map[string]*campaigner
	shared    *concurrency.Session // for leader / observe, which need a session but no lease of their own
}

type heldMutex struct {
	session *concurrency.Session
	mutex   *concurrency.Mutex
}

type campaigner struct {
	session  *concurrency.Session
	election *concurrency.Election
}

func main() {
	eps := flag.String("endpoints", "http://127.0.0.1:2379", "comma-separated etcd endpoints")
	flag.Parse()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   strings.Split(*eps, ","),
		DialTimeout: 10 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		fatal(err)
	}
	defer cli.Close()
	p := &peer{
		cli:       cli,
		out:       json.NewEncoder(os.Stdout),
		cancels:   map[string]context.CancelFunc{},
		conns:     map[string]*grpc.ClientConn{},
		mutexes:   map[string]*heldMutex{},
		elections: map[string]*campaigner{},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err = cli.Get(ctx, "etcd-interop-ready")
	cancel()
	if err != nil {
		fatal(err)
	}
	p.emit(map[string]any{"event": "ready"})

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	for in.Scan() {
		var c command
		if err := json.Unmarshal(in.Bytes(), &c); err != nil {
			p.emit(map[string]any{"event": "bad-command", "error": err.Error()})
			continue
		}
		go p.run(c)
	}
	// stdin closed: stop watches and observes, close connections, give up held locks and leaderships (their
	// sessions' leases are revoked) and leave. Commands still blocked (a lock or a campaign waiting) end with
	// the process; their sessions' leases expire.
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, cancel := range p.cancels {
		cancel()
	}
	for _, conn := range p.conns {
		conn.Close()
	}
	for _, m := range p.mutexes {
		m.session.Close()
	}
	for _, e := range p.elections {
		e.session.Close()
	}
	if p.shared != nil {
		p.shared.Close()
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "etcd-interop:", err)
	os.Exit(1)
}

func (p *peer) emit(v any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.out.Encode(v)
}

func (p *peer) run(c command) {
	// No command waits longer than this; the tests bound their own waits well below it.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := p.do(ctx, c)
	if err != nil {
		reply := map[string]any{"id": c.ID, "error": err.Error()}
		if s, ok := status.FromError(err); ok {
			reply["code"] = s.Code().String()
		}
		p.emit(reply)
		return
	}
	if res == nil {
		res = map[string]any{}
	}
	res["id"] = c.ID
	res["ok"] = true
	p.emit(res)
}

func decodeMetadata(raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var m any
	err := json.Unmarshal(raw, &m)
	return m, err
}

func (p *peer) do(ctx context.Context, c command) (map[string]any, error) {
	switch c.Op {

	// ---- naming/endpoints -------------------------------------------------------------------------------
	case "add": // {target, key, addr, metadata?, ttl?}: Manager.AddEndpoint, under a kept-alive lease when ttl > 0
		m, err := endpoints.NewManager(p.cli, c.Target)
		if err != nil {
			return nil, err
		}
		meta, err := decodeMetadata(c.Metadata)
		if err != nil {
			return nil, err
		}
		var opts []clientv3.OpOption
		if c.TTL > 0 {
			lease, err := p.cli.Grant(ctx, int64(c.TTL))
			if err != nil {
				return nil, err
			}
			// The keepalive lives as long as the program: a killed program lets the lease expire, as a Go
			// service that dies would.
			if _, err := p.cli.KeepAlive(context.Background(), lease.ID); err != nil {
				return nil, err
			}
			opts = append(opts, clientv3.WithLease(lease.ID))
		}
		return nil, m.AddEndpoint(ctx, c.Key, endpoints.Endpoint{Addr: c.Addr, Metadata: meta}, opts...)

	case "del": // {target, key}: Manager.DeleteEndpoint
		m, err := endpoints.NewManager(p.cli, c.Target)
		if err != nil {
			return nil, err
		}
		return nil, m.DeleteEndpoint(ctx, c.Key)

	case "list": // {target} → {endpoints: [{key, addr, metadata}] sorted by key}: Manager.List
		m, err := endpoints.NewManager(p.cli, c.Target)
		if err != nil {
			return nil, err
		}
		all, err := m.List(ctx)
		if err != nil {
			return nil, err
		}
		list := []endpoint{}
		for k, e := range all {
			list = append(list, endpoint{Key: k, Addr: e.Addr, Metadata: e.Metadata})
		}
		slices.SortFunc(list, func(a, b endpoint) int { return strings.Compare(a.Key, b.Key) })
		return map[string]any{"endpoints": list}, nil

	case "watch": // {handle, target}: Manager.NewWatchChannel; each batch → {event:"watch", handle, updates}
		m, err := endpoints.NewManager(p.cli, c.Target)
		if err != nil {
			return nil, err
		}
		wctx, cancel := context.WithCancel(context.Background())
		ch, err := m.NewWatchChannel(wctx)
		if err != nil {
			cancel()
			return nil, err
		}
		p.mu.Lock()
		p.cancels[c.Handle] = cancel
		p.mu.Unlock()
		go func() {
			for ups := range ch {
				list := make([]endpoint, 0, len(ups))
				for _, u := range ups {
					op := "add"
					if u.Op == endpoints.Delete {
						op = "delete"
					}
					list = append(list, endpoint{Op: op, Key: u.Key, Addr: u.Endpoint.Addr, Metadata: u.Endpoint.Metadata})
				}
				p.emit(map[string]any{"event": "watch", "handle": c.Handle, "updates": list})
			}
			p.emit(map[string]any{"event": "watch-closed", "handle": c.Handle})
		}()
		return nil, nil

	// ---- naming/resolver + grpc-go ------------------------------------------------------------------------
	case "dial": // {handle, target}: grpc.NewClient("etcd:///<target>") through the etcd resolver, round_robin
		b, err := resolver.NewBuilder(p.cli)
		if err != nil {
			return nil, err
		}
		conn, err := grpc.NewClient("etcd:///"+c.Target,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithResolvers(b),
			grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))
		if err != nil {
			return nil, err
		}
		p.mu.Lock()
		p.conns[c.Handle] = conn
		p.mu.Unlock()
		return nil, nil

	case "call": // {handle} → {member}: one KV.Range on the connection; the tests' servers name themselves in the header
		p.mu.Lock()
		conn := p.conns[c.Handle]
		p.mu.Unlock()
		if conn == nil {
			return nil, fmt.Errorf("no connection %q", c.Handle)
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		res, err := pb.NewKVClient(conn).Range(cctx, &pb.RangeRequest{Key: []byte("interop")})
		if err != nil {
			return nil, err
		}
		return map[string]any{"member": res.GetHeader().GetMemberId()}, nil

	case "close": // {handle}: closes a connection, or cancels a watch or an observe
		p.mu.Lock()
		defer p.mu.Unlock()
		if conn := p.conns[c.Handle]; conn != nil {
			delete(p.conns, c.Handle)
			return nil, conn.Close()
		}
		if cancel := p.cancels[c.Handle]; cancel != nil {
			delete(p.cancels, c.Handle)
			cancel()
			return nil, nil
		}
		return nil, fmt.Errorf("nothing named %q", c.Handle)

	// ---- concurrency.Mutex -------------------------------------------------------------------------------
	case "lock", "trylock": // {handle, name, ttl}: a new session, NewMutex(session, name).Lock / TryLock → {key, rev}
		s, err := concurrency.NewSession(p.cli, concurrency.WithTTL(ttlOr(c.TTL, 30)))
		if err != nil {
			return nil, err
		}
		m := concurrency.NewMutex(s, c.Name)
		if c.Op == "lock" {
			err = m.Lock(ctx)
		} else {
			err = m.TryLock(ctx)
		}
		if err != nil {
			s.Close()
			if err == concurrency.ErrLocked {
				return nil, fmt.Errorf("locked")
			}
			return nil, err
		}
		p.mu.Lock()
		p.mutexes[c.Handle] = &heldMutex{session: s, mutex: m}
		p.mu.Unlock()
		return map[string]any{"key": m.Key(), "rev": m.Header().GetRevision()}, nil

	case "unlock": // {handle}: Mutex.Unlock, then the session is closed (its lease revoked)
		p.mu.Lock()
		h := p.mutexes[c.Handle]
		delete(p.mutexes, c.Handle)
		p.mu.Unlock()
		if h == nil {
			return nil, fmt.Errorf("no lock %q", c.Handle)
		}
		if err := h.mutex.Unlock(ctx); err != nil {
			return nil, err
		}
		return nil, h.session.Close()

	// ---- concurrency.Election ----------------------------------------------------------------------------
	case "campaign": // {handle, name, value, ttl}: a new session, NewElection(session, name).Campaign → {key, rev}
		s, err := concurrency.NewSession(p.cli, concurrency.WithTTL(ttlOr(c.TTL, 30)))
		if err != nil {
			return nil, err
		}
		e := concurrency.NewElection(s, c.Name)
		if err := e.Campaign(ctx, c.Value); err != nil {
			s.Close()
			return nil, err
		}
		p.mu.Lock()
		p.elections[c.Handle] = &campaigner{session: s, election: e}
		p.mu.Unlock()
		return map[string]any{"key": e.Key(), "rev": e.Rev()}, nil

	case "proclaim": // {handle, value}: Election.Proclaim
		e, err := p.election(c.Handle)
		if err != nil {
			return nil, err
		}
		return nil, e.election.Proclaim(ctx, c.Value)

	case "resign": // {handle}: Election.Resign, then the session is closed
		e, err := p.election(c.Handle)
		if err != nil {
			return nil, err
		}
		p.mu.Lock()
		delete(p.elections, c.Handle)
		p.mu.Unlock()
		if err := e.election.Resign(ctx); err != nil {
			return nil, err
		}
		return nil, e.session.Close()

	case "leader": // {name} → {key, value}: Election.Leader
		s, err := p.sharedSession()
		if err != nil {
			return nil, err
		}
		res, err := concurrency.NewElection(s, c.Name).Leader(ctx)
		if err != nil {
			return nil, err
		}
		kv := res.Kvs[0]
		return map[string]any{"key": string(kv.Key), "value": string(kv.Value)}, nil

	case "observe": // {handle, name}: Election.Observe; each report → {event:"observe", handle, key, value}
		s, err := p.sharedSession()
		if err != nil {
			return nil, err
		}
		octx, cancel := context.WithCancel(context.Background())
		ch := concurrency.NewElection(s, c.Name).Observe(octx)
		p.mu.Lock()
		p.cancels[c.Handle] = cancel
		p.mu.Unlock()
		go func() {
			for res := range ch {
				kv := res.Kvs[0]
				p.emit(map[string]any{"event": "observe", "handle": c.Handle, "key": string(kv.Key), "value": string(kv.Value)})
			}
		}()
		return nil, nil
	}
	return nil, fmt.Errorf("unknown op %q", c.Op)
}

func ttlOr(ttl, def int) int {
	if ttl > 0 {
		return ttl
	}
	return def
}

func (p *peer) election(handle string) (*campaigner, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.elections[handle]
	if e == nil {
		return nil, fmt.Errorf("no election %q", handle)
	}
	return e, nil
}

func (p *peer) sharedSession() (*concurrency.Session, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shared == nil {
		s, err := concurrency.NewSession(p.cli, concurrency.WithTTL(60))
		if err != nil {
			return nil, err
		}
		p.shared = s
	}
	return p.shared, nil
}
