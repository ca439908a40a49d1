%% Processes for Orbit's process-listing benchmark, and its native baseline, run inside a node.
-module(orbit_bench_procs).

-export([spawn_idle/1, native/3]).

%% N idle processes holding between 0 and ~8 KB of heap each, so that memory differs between them.
spawn_idle(N) ->
    Parent = self(),
    [spawn(fun() -> idle(Parent, I) end) || I <- lists:seq(1, N)],
    ok.

idle(_Parent, I) ->
    Data = lists:seq(1, (I * 7919) rem 1000),
    receive
        stop -> length(Data)
    end.

%% The same query as Orbit's listing (top N by Sort, with each winner's details), run Rounds times here;
%% each run's time in microseconds.
native(Sort, N, Rounds) ->
    [element(1, orbit_procs:native_top(Sort, N)) || _ <- lists:seq(1, Rounds)].
