%% The native baseline for Orbit's benchmarks, run inside a node: Erlang's own erpc:call to another node.
-module(orbit_bench).

-export([erpc_latency/2]).

%% N sequential erpc:call(Node, erlang, node, []) round trips; each one's time in microseconds.
erpc_latency(Node, N) ->
    erpc:call(Node, erlang, node, []),
    [one(Node) || _ <- lists:seq(1, N)].

one(Node) ->
    T0 = erlang:monotonic_time(nanosecond),
    Node = erpc:call(Node, erlang, node, []),
    (erlang:monotonic_time(nanosecond) - T0) div 1000.
