%% A node's vital figures in one call, so Orbit samples a node with one round trip.
%%
%% snapshot/0 is the plain picture; sample/1 adds the cumulative counters Orbit turns into rates
%% (reductions, IO, scheduler wall time), the memory limit of the machine and the processes with the most
%% memory and the longest queues. Scheduler wall time is only counted while some process asked for it:
%% start_sampler/1 starts one that holds it on for as long as Orbit watches (it stops with its clean-up,
%% or by itself when Orbit's node goes away, and the flag goes off with it).
-module(orbit_health).
%% `catch Expr` is deprecated from OTP 29 on; the agent still runs on OTP 25, where it is the idiom.
-compile(nowarn_deprecated_catch).

-export([snapshot/0, sample/1, start_sampler/1, stop_sampler/1, sampler_init/1, sampler_loop/1]).

snapshot() ->
    {UptimeMs, _} = erlang:statistics(wall_clock),
    Memory = erlang:memory(),
    #{node => node(),
      otp_release => list_to_binary(erlang:system_info(otp_release)),
      erts_version => list_to_binary(erlang:system_info(version)),
      elixir_version => elixir_version(),
      uptime_ms => UptimeMs,
      process_count => erlang:system_info(process_count),
      process_limit => erlang:system_info(process_limit),
      port_count => erlang:system_info(port_count),
      port_limit => erlang:system_info(port_limit),
      atom_count => erlang:system_info(atom_count),
      atom_limit => erlang:system_info(atom_limit),
      memory => maps:from_list(Memory),
      run_queue => erlang:statistics(total_run_queue_lengths_all),
      schedulers => erlang:system_info(schedulers),
      schedulers_online => erlang:system_info(schedulers_online),
      visible_nodes => lists:sort(nodes()),
      hidden_nodes => lists:sort(nodes(hidden))}.

%% Only if Elixir is loaded already: a plain Erlang node reports none rather than loading it.
elixir_version() ->
    case code:is_loaded('Elixir.System') of
        {file, _} -> 'Elixir.System':version();
        false ->
            case application:get_key(elixir, vsn) of
                {ok, Vsn} -> list_to_binary(Vsn);
                undefined -> undefined
            end
    end.

%% Opts: #{top_n => N, window_ms => Ms}. With a window, the call returns, under `rates`, the scheduler
%% utilisation, reductions and IO bytes per second and the window's true length: over the agent's own last
%% reading when a sampler runs on the node (Orbit is watching it: top, the language server, status
%% --watch) and that reading is at least Ms old, with no wait; otherwise the call watches the node for Ms
%% (scheduler time counted by this short-lived process only). Without a window, Orbit turns the
%% cumulative counters of two samples into rates itself.
sample(Opts) when is_map(Opts) ->
    TopN = maps:get(top_n, Opts, 5),
    Rates = window_rates(maps:get(window_ms, Opts, 0)),
    {Reductions, _} = erlang:statistics(reductions),
    {{input, In}, {output, Out}} = erlang:statistics(io),
    {ByMemory, ByQueue} = top_processes(TopN),
    Sample = (snapshot())#{time_ms => erlang:monotonic_time(millisecond),
                           reductions => Reductions,
                           io_input => In,
                           io_output => Out,
                           scheduler_wall_time => scheduler_wall_time(),
                           memory_limit => memory_limit(),
                           ets_count => erlang:system_info(ets_count),
                           ets_limit => erlang:system_info(ets_limit),
                           top_memory => ByMemory,
                           top_queue => ByQueue,
                           scheduler_utilisation => maps:get(scheduler_utilisation, Rates, undefined)},
    case map_size(Rates) of
        0 -> Sample;
        _ -> Sample#{rates => Rates}
    end.

window_rates(0) ->
    #{};
window_rates(Ms) when is_integer(Ms), Ms > 0 ->
    case kept_reading(Ms) of
        {ok, Before} ->
            rates(Before, reading(), agent);
        none ->
            erlang:system_flag(scheduler_wall_time, true),
            Before = reading(),
            timer:sleep(Ms),
            After = reading(),
            erlang:system_flag(scheduler_wall_time, false),
            rates(Before, After, window)
    end.

%% {MonotonicMicroseconds, Reductions, IoIn, IoOut, SchedulerWallTime | undefined}
reading() ->
    {Reductions, _} = erlang:statistics(reductions),
    {{input, In}, {output, Out}} = erlang:statistics(io),
    {erlang:monotonic_time(microsecond), Reductions, In, Out, scheduler_wall_time()}.

rates({T0, R0, I0, O0, W0}, {T1, R1, I1, O1, W1}, Source) ->
    Secs = max(T1 - T0, 1) / 1000000,
    Utilisation = case {W0, W1} of
                      {{A0, S0}, {A1, S1}} when S1 > S0 -> (A1 - A0) / (S1 - S0);
                      _ -> undefined
                  end,
    #{window_ms => (T1 - T0) div 1000,
      source => Source,
      scheduler_utilisation => Utilisation,
      reductions_per_sec => (R1 - R0) / Secs,
      io_input_per_sec => (I1 - I0) / Secs,
      io_output_per_sec => (O1 - O0) / Secs}.

%% The newest of the running sampler's last two readings that is between Ms and 5 s old (so any window
%% up to a second is answered from them), if it counted scheduler time.
kept_reading(Ms) ->
    case whereis(orbit_health_sampler) of
        undefined ->
            none;
        Pid ->
            Ref = erlang:monitor(process, Pid),
            Pid ! {orbit_health, readings, self(), Ref},
            receive
                {Ref, Readings} when is_list(Readings) ->
                    erlang:demonitor(Ref, [flush]),
                    Now = erlang:monotonic_time(microsecond),
                    Old = [R || {T0, _, _, _, {_, _}} = R <- Readings,
                                (Now - T0) div 1000 >= Ms, (Now - T0) div 1000 =< 5000],
                    case Old of
                        [Reading | _] -> {ok, Reading};
                        [] -> none
                    end;
                {'DOWN', Ref, process, _, _} ->
                    none
            after 100 ->
                erlang:demonitor(Ref, [flush]),
                none
            end
    end.

%% {Active, Total} summed over the normal schedulers, or undefined while no one counts.
scheduler_wall_time() ->
    case erlang:statistics(scheduler_wall_time) of
        undefined ->
            undefined;
        List ->
            N = erlang:system_info(schedulers),
            lists:foldl(fun({Id, A, T}, {SA, ST}) when Id =< N -> {SA + A, ST + T};
                           (_, Acc) -> Acc
                        end, {0, 0}, List)
    end.

%% One pass over the processes; full details only for the winners.
top_processes(N) ->
    Self = self(),
    Stats = lists:foldl(fun(P, Acc) when P =:= Self -> Acc;
                           (P, Acc) ->
                                case erlang:process_info(P, [memory, message_queue_len]) of
                                    [{memory, M}, {message_queue_len, Q}] -> [{P, M, Q} | Acc];
                                    undefined -> Acc
                                end
                        end, [], erlang:processes()),
    ByMemory = lists:sublist(lists:reverse(lists:keysort(2, Stats)), N),
    ByQueue = [X || {_, _, Q} = X <- lists:sublist(lists:reverse(lists:keysort(3, Stats)), N), Q > 0],
    {summaries(ByMemory), summaries(ByQueue)}.

summaries(Stats) ->
    [S || {P, _, _} <- Stats, S <- [orbit_procs:summary(P)], S =/= undefined].

%% The smallest of the cgroup limit (v2, then v1) and the machine's memory, in bytes; undefined if none.
memory_limit() ->
    Known = [L || L <- [cgroup2_limit(), cgroup1_limit(), meminfo_total()], is_integer(L), L > 0],
    case Known of
        [] -> undefined;
        _ -> lists:min(Known)
    end.

cgroup2_limit() ->
    case file:read_file("/sys/fs/cgroup/memory.max") of
        {ok, Bin} -> to_integer(string:trim(Bin));
        _ -> undefined
    end.

cgroup1_limit() ->
    case file:read_file("/sys/fs/cgroup/memory/memory.limit_in_bytes") of
        %% "No limit" reads as a huge number rounded to the page size.
        {ok, Bin} ->
            case to_integer(string:trim(Bin)) of
                N when is_integer(N), N < 1 bsl 60 -> N;
                _ -> undefined
            end;
        _ -> undefined
    end.

meminfo_total() ->
    case file:read_file("/proc/meminfo") of
        {ok, Bin} ->
            case re:run(Bin, "MemTotal:\\s+(\\d+) kB", [{capture, all_but_first, binary}]) of
                {match, [Kb]} -> binary_to_integer(Kb) * 1024;
                _ -> undefined
            end;
        _ -> undefined
    end.

to_integer(Bin) ->
    try binary_to_integer(Bin) catch error:badarg -> undefined end.

%% A process that keeps scheduler wall time counted and reads the counters every second (status answers
%% from the last two readings, with no wait); it ends on stop_sampler/1 or when OrbitNode goes. The first one
%% running on a node is registered as orbit_health_sampler (when it ends, the next one takes the name).
start_sampler(OrbitNode) when is_atom(OrbitNode) ->
    {ok, proc_lib:spawn(orbit_health, sampler_init, [OrbitNode])}.

stop_sampler(Pid) when is_pid(Pid) ->
    Pid ! {orbit_health, stop},
    ok.

sampler_init(OrbitNode) ->
    erlang:monitor_node(OrbitNode, true),
    erlang:system_flag(scheduler_wall_time, true),
    orbit_health:sampler_loop(OrbitNode).

%% Ticks every second, through a fully qualified call, so that a newer orbit_health takes over (a sampler
%% of an older one arrives here with just the node).
sampler_loop(OrbitNode) when is_atom(OrbitNode) ->
    sampler_tick(#{orbit => OrbitNode});
sampler_loop(#{orbit := OrbitNode} = State) ->
    receive
        {orbit_health, stop} -> ok;
        {nodedown, OrbitNode} -> ok;
        {orbit_health, tick} -> sampler_tick(State);
        {orbit_health, readings, From, Ref} ->
            From ! {Ref, maps:get(readings, State, [])},
            orbit_health:sampler_loop(State);
        _ -> orbit_health:sampler_loop(State)
    end.

%% Keeps the last two readings, newest first.
sampler_tick(State) ->
    _ = (catch register(orbit_health_sampler, self())),
    erlang:send_after(1000, self(), {orbit_health, tick}),
    Readings = lists:sublist([reading() | maps:get(readings, State, [])], 2),
    orbit_health:sampler_loop(State#{readings => Readings}).
