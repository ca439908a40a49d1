%% A node's vital figures in one call, so Orbit samples a node with one round trip.
%%
%% snapshot/0 is the plain picture; sample/1 adds the cumulative counters Orbit turns into rates
%% (reductions, IO, scheduler wall time), the memory limit of the machine and the processes with the most
%% memory and the longest queues. Scheduler wall time is only counted while some process asked for it:
%% start_sampler/1 starts one that holds it on for as long as Orbit watches (it stops with its clean-up,
%% or by itself when Orbit's node goes away, and the flag goes off with it).
-module(orbit_health).

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

%% Opts: #{top_n => N, window_ms => Ms}. With a window, the call first watches the node for that long and
%% returns, under `rates`, what happened in it: scheduler utilisation (counted by this short-lived process
%% only), reductions and IO bytes per second, and the window's true length. Without one, Orbit turns the
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
    erlang:system_flag(scheduler_wall_time, true),
    W0 = scheduler_wall_time(),
    T0 = erlang:monotonic_time(microsecond),
    {R0, _} = erlang:statistics(reductions),
    {{input, I0}, {output, O0}} = erlang:statistics(io),
    timer:sleep(Ms),
    W1 = scheduler_wall_time(),
    T1 = erlang:monotonic_time(microsecond),
    {R1, _} = erlang:statistics(reductions),
    {{input, I1}, {output, O1}} = erlang:statistics(io),
    erlang:system_flag(scheduler_wall_time, false),
    Secs = max(T1 - T0, 1) / 1000000,
    Utilisation = case {W0, W1} of
                      {{A0, S0}, {A1, S1}} when S1 > S0 -> (A1 - A0) / (S1 - S0);
                      _ -> undefined
                  end,
    #{window_ms => (T1 - T0) div 1000,
      scheduler_utilisation => Utilisation,
      reductions_per_sec => (R1 - R0) / Secs,
      io_input_per_sec => (I1 - I0) / Secs,
      io_output_per_sec => (O1 - O0) / Secs}.

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

%% A process that keeps scheduler wall time counted; it ends on stop_sampler/1 or when OrbitNode goes.
start_sampler(OrbitNode) when is_atom(OrbitNode) ->
    {ok, proc_lib:spawn(orbit_health, sampler_init, [OrbitNode])}.

stop_sampler(Pid) when is_pid(Pid) ->
    Pid ! {orbit_health, stop},
    ok.

sampler_init(OrbitNode) ->
    erlang:monitor_node(OrbitNode, true),
    erlang:system_flag(scheduler_wall_time, true),
    orbit_health:sampler_loop(OrbitNode).

%% Wakes every second so that a newer orbit_health takes over.
sampler_loop(OrbitNode) ->
    receive
        {orbit_health, stop} -> ok;
        {nodedown, OrbitNode} -> ok;
        _ -> orbit_health:sampler_loop(OrbitNode)
    after 1000 ->
        orbit_health:sampler_loop(OrbitNode)
    end.
