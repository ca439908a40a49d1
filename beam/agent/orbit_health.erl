%% A node's vital figures in one call, so Orbit samples a node with one round trip.
-module(orbit_health).

-export([snapshot/0]).

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
