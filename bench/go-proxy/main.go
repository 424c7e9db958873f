// Reference reverse proxy for `npm run bench`: Go's stdlib httputil.ReverseProxy, the peer to catch.
// Built by bench/peers.ts with `go build` into the bench temp dir; run pinned to the proxy core.
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	backend := flag.String("backend", "", "backend origin, e.g. http://127.0.0.1:8080")
	flag.Parse()
	target, err := url.Parse(*backend)
	if err != nil || target.Host == "" {
		log.Fatalf("bad -backend %q", *backend)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	// The default transport keeps only 2 idle connections per host: size the pool like nginx's (keepalive 128+).
	proxy.Transport = &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: 120 * time.Second}
	proxy.ErrorLog = log.New(io.Discard, "", 0)
	server := &http.Server{Addr: *listen, Handler: proxy, ReadHeaderTimeout: 30 * time.Second}
	log.Fatal(server.ListenAndServe())
}
