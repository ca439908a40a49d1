%% The workload of the profile benchmark: rounds of Procs processes that each run N steps of list
%% building and checksums (a few calls of this module per step), timed on the node; and the same round
%% under OTP's own profiler on the node itself (tprof on OTP 27+, eprof before), for the baseline.
-module(profbench_work).
-export([round/2, worker/1, step/1, checksum/2, native_round/3, idle/0]).

%% Elapsed microseconds of one round.
round(Procs, N) ->
    T0 = erlang:monotonic_time(microsecond),
    Self = self(),
    Pids = [spawn(profbench_work, worker, [{Self, N}]) || _ <- lists:seq(1, Procs)],
    lists:foreach(fun(P) -> receive {done, P} -> ok end end, Pids),
    erlang:monotonic_time(microsecond) - T0.

worker({From, N}) ->
    _ = steps(N, 0),
    From ! {done, self()}.

steps(0, Acc) -> Acc;
steps(N, Acc) -> steps(N - 1, (profbench_work:step(N) + Acc) band 16#ffffff).

step(N) -> profbench_work:checksum(lists:seq(1, 20 + N rem 20), N).

checksum([], Acc) -> Acc band 16#ffff;
checksum([H | T], Acc) -> checksum(T, Acc * 31 + H).

%% A function the workload never calls: a profile of it costs the workload only its sampling.
idle() -> ok.

%% The round under tprof (call_time, every process) or eprof (call_time, this process and what it
%% spawns), started and stopped around it; only the round is timed.
native_round(Procs, N, tprof) ->
    {ok, _} = tprof:start(#{type => call_time}),
    _ = tprof:set_pattern(profbench_work, '_', '_'),
    _ = tprof:enable_trace(all),
    T = round(Procs, N),
    _ = tprof:disable_trace(all),
    _ = tprof:collect(),
    _ = tprof:clear_pattern(profbench_work, '_', '_'),
    ok = tprof:stop(),
    T;
native_round(Procs, N, eprof) ->
    _ = eprof:start(),
    profiling = eprof:start_profiling([self()], {profbench_work, '_', '_'}, [set_on_spawn]),
    T = round(Procs, N),
    profiling_stopped = eprof:stop_profiling(),
    stopped = eprof:stop(),
    T.
