// A small JSON HTTP server on the JDK's own com.sun.net.httpserver: a JVM testee whose
// warm-up (HotSpot's tiered compilation of the handler and of the server) takes seconds.
//
//     javac -d CLASSES JsonServer.java
//     java -Dsun.net.httpserver.nodelay=true -cp CLASSES JsonServer [--host H] [--port P] [--items N]
//
// Any GET answers 200 with a JSON array of N items (default 200), built anew for every
// request. Prints one line, "listening on HOST:PORT", once serving (port 0 picks a free
// one); exits on SIGINT or SIGTERM. Without -Dsun.net.httpserver.nodelay=true the server
// leaves Nagle's algorithm on, and every small reply waits for the client's delayed ACK
// (about 40 ms).

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

public final class JsonServer {
    private JsonServer() {}

    static byte[] body(int items) {
        StringBuilder out = new StringBuilder(items * 64);
        out.append('[');
        for (int i = 0; i < items; i++) {
            if (i > 0) {
                out.append(',');
            }
            out.append("{\"id\":").append(i)
                .append(",\"name\":\"item-").append(i)
                .append("\",\"price\":").append(i * 0.25)
                .append(",\"tags\":[\"a\",\"b\"],\"in_stock\":").append(i % 3 != 0)
                .append('}');
        }
        out.append(']');
        return out.toString().getBytes(StandardCharsets.UTF_8);
    }

    public static void main(String[] args) throws IOException {
        String host = "127.0.0.1";
        int port = 0;
        int items = 200;
        for (int i = 0; i < args.length; i++) {
            String value = i + 1 < args.length ? args[i + 1] : null;
            switch (args[i]) {
                case "--host": host = value; i++; break;
                case "--port": port = Integer.parseInt(value); i++; break;
                case "--items": items = Integer.parseInt(value); i++; break;
                default:
                    System.err.println("usage: JsonServer [--host H] [--port P] [--items N]");
                    System.exit(2);
            }
        }
        final int count = items;
        HttpServer server = HttpServer.create(new InetSocketAddress(host, port), 1024);
        server.createContext("/", (HttpExchange exchange) -> {
            try (exchange) {
                exchange.getRequestBody().readAllBytes();
                if (!"GET".equals(exchange.getRequestMethod())) {
                    exchange.sendResponseHeaders(405, -1);
                    return;
                }
                byte[] reply = body(count);
                exchange.getResponseHeaders().set("Content-Type", "application/json");
                exchange.sendResponseHeaders(200, reply.length);
                try (OutputStream stream = exchange.getResponseBody()) {
                    stream.write(reply);
                }
            }
        });
        // No executor: the server's dispatcher thread runs the handler itself.
        server.start();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> server.stop(0)));
        InetSocketAddress bound = server.getAddress();
        System.out.println("listening on " + bound.getHostString() + ":" + bound.getPort());
        System.out.flush();
    }
}
