%% The native side of the scale benchmark, run on a hidden Erlang node: what a hand-written Erlang client
%% does for the same answers as Orbit, timed inside that node.
-module(orbit_bench_scale).

-export([connect_and_multicall/5, fanout/3, unload/2]).

%% Microseconds to connect to every node (in parallel, from no connection) and rpc:multicall M:F(A) on
%% them, Runs times. The connections are dropped before each run, as Orbit's command starts from none.
connect_and_multicall(Nodes, M, F, A, Runs) ->
    [run(Nodes, M, F, A) || _ <- lists:seq(1, Runs)].

run(Nodes, M, F, A) ->
    [erlang:disconnect_node(N) || N <- Nodes],
    wait_until_disconnected(Nodes, 100),
    T0 = erlang:monotonic_time(microsecond),
    Parent = self(),
    Pids = [spawn_link(fun() -> Parent ! {self(), net_kernel:connect_node(N)} end) || N <- Nodes],
    [receive {P, R} -> R =:= true orelse error({cannot_connect, R}) end || P <- Pids],
    {Replies, []} = rpc:multicall(Nodes, M, F, A, 30000),
    T1 = erlang:monotonic_time(microsecond),
    [error({bad_reply, R}) || {badrpc, _} = R <- Replies],
    T1 - T0.

wait_until_disconnected(_Nodes, 0) ->
    ok;
wait_until_disconnected(Nodes, Tries) ->
    case [N || N <- Nodes, lists:member(N, nodes(connected))] of
        [] -> ok;
        _ -> timer:sleep(10), wait_until_disconnected(Nodes, Tries - 1)
    end.

%% {OneCall, FanOut}: microseconds of Rounds sequential erpc:call to the first node, and of Rounds
%% erpc:multicall to all nodes, alternating (connections already up).
fanout(Nodes, Rounds, _) ->
    [net_kernel:connect_node(N) || N <- Nodes],
    One = hd(Nodes),
    Pairs = [begin
                 T0 = erlang:monotonic_time(microsecond),
                 One = erpc:call(One, erlang, node, []),
                 T1 = erlang:monotonic_time(microsecond),
                 _ = erpc:multicall(Nodes, erlang, node, []),
                 T2 = erlang:monotonic_time(microsecond),
                 {T1 - T0, T2 - T1}
             end || _ <- lists:seq(1, Rounds)],
    {[A || {A, _} <- Pairs], [B || {_, B} <- Pairs]}.

%% Removes Orbit's agent modules from the nodes, so that the next Orbit command finds them as fresh.
unload(Nodes, Modules) ->
    [begin
         _ = erpc:multicall(Nodes, code, purge, [M]),
         _ = erpc:multicall(Nodes, code, delete, [M]),
         _ = erpc:multicall(Nodes, code, purge, [M])
     end || M <- Modules],
    ok.
