%% The node-side half of Orbit's trace benchmark: a hot function, a timer for N calls of it, and the
%% native baseline: the same rounds under a bare erlang:trace to a process that drops every message.
-module(tracebench_hot).

-export([work/1, rounds/2, native_rounds/3, sink/0]).

work(X) -> X * 2 + 1.

%% Rounds of N sequential calls of work/1; each round's time in nanoseconds.
rounds(N, Rounds) ->
    loop(N),
    [round_ns(N) || _ <- lists:seq(1, Rounds)].

round_ns(N) ->
    T0 = erlang:monotonic_time(nanosecond),
    loop(N),
    erlang:monotonic_time(nanosecond) - T0.

loop(0) -> ok;
loop(N) ->
    tracebench_hot:work(N),
    loop(N - 1).

%% Rounds under a native trace of work/1 (narrow: 1 call in 1000 matches; all: every call) whose
%% tracer is a local process that drops what it gets.
native_rounds(N, Rounds, Which) ->
    MS = case Which of
             narrow -> [{['$1'], [{'=:=', {'rem', '$1', 1000}, 0}], []}];
             all -> true
         end,
    Sink = spawn(tracebench_hot, sink, []),
    erlang:trace_pattern({tracebench_hot, work, 1}, MS, [local]),
    erlang:trace(self(), true, [call, timestamp, {tracer, Sink}]),
    Result = rounds(N, Rounds),
    erlang:trace(self(), false, [call, timestamp]),
    erlang:trace_pattern({tracebench_hot, work, 1}, false, [local]),
    exit(Sink, kill),
    Result.

sink() ->
    receive _ -> tracebench_hot:sink() end.
