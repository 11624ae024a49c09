// hello is the small program the cluster smoke test runs in pods. It has no
// dependencies beyond the Go standard library, so it builds offline into a
// static binary that cluster/offline/images/make_image.py packs as an image.
//
//	hello serve [-addr :8080]   answer every request with "hello from <hostname>"
//	hello get URL               fetch URL (resolving its host name) and print the body
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func serve(addr string) error {
	host, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", host)
	})
	server := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(ctx)
	}()
	log.Printf("serving on %s as %s", addr, host)
	if err := server.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}

func get(url string) error {
	client := &http.Client{Timeout: 10 * time.Second}
	var lastErr error
	for attempt := 0; attempt < 20; attempt++ {
		resp, err := client.Get(url)
		if err == nil {
			body, readErr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if readErr == nil && resp.StatusCode == http.StatusOK {
				fmt.Printf("GET %s: %s", url, body)
				return nil
			}
			err = fmt.Errorf("status %d, %v", resp.StatusCode, readErr)
		}
		lastErr = err
		time.Sleep(time.Second)
	}
	return lastErr
}

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: hello serve [-addr :8080] | hello get URL")
	}
	var err error
	switch os.Args[1] {
	case "serve":
		flags := flag.NewFlagSet("serve", flag.ExitOnError)
		addr := flags.String("addr", ":8080", "listen address")
		_ = flags.Parse(os.Args[2:])
		err = serve(*addr)
	case "get":
		if len(os.Args) != 3 {
			log.Fatal("usage: hello get URL")
		}
		err = get(os.Args[2])
	default:
		log.Fatalf("unknown command %q", os.Args[1])
	}
	if err != nil {
		log.Fatal(err)
	}
}
