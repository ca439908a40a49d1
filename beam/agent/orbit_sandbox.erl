%% Sandboxes, node side: isolated supervision trees that outlive Orbit's connection.
%%
%%   kernel_sup
%%     orbit_sandbox_sup            (temporary child of kernel_sup: never restarted, so it cannot trip
%%       orbit_sandbox_registry      kernel_sup's zero restart intensity; owns the registry table)
%%       {sandbox, Id}              one supervisor per sandbox (temporary), holding the user's children
%%
%% The registry (ETS table orbit_sandbox_table, owned by orbit_sandbox_sup) holds one entry per sandbox,
%% replicated to every node that runs orbit_sandbox_sup: a reconnecting Orbit finds the sandboxes that
%% exist, and when a node goes down the others still know what it ran. Changes to a sandbox run under a
%% cluster-wide global lock on its id and are replicated synchronously; a destroyed sandbox stays as a
%% tombstone so that a late sync cannot bring it back. An entry also keeps the states the last migration
%% with handoff carried (`handoff`), and what happened to the sandbox (`history`, newest first).
%%
%% Failover needs no Orbit: the registry on every node watches the others (net_kernel:monitor_nodes/1).
%% When a node that held sandboxes goes down, each survivor computes the same plan from the replicated
%% registry and the nodes that run the registry: for each orphaned sandbox (by id), the survivors ranked
%% by how many sandboxes they run, then by node name; the first starts it at once, the next ones only
%% after 2 s, 4 s... and only if it is still orphaned then. The start itself runs under the sandbox's
%% lock and checks again that the sandbox is still on the dead node, so it happens exactly once even when
%% survivors disagree about the membership, or an Orbit fails it over at the same moment. The restarted
%% children get the states of the last handoff back (sys:replace_state); the others start afresh.
%%
%% Orbit installs this from source text (no preprocessor: no macros, no includes). init/1 serves the
%% supervisors and the registry's gen_server (so no -behaviour attributes); every callback is called
%% fully qualified by OTP, so a newer version of this module takes over at once.
-module(orbit_sandbox).
%% `catch Expr` is deprecated from OTP 29 on; the agent still runs on OTP 25, where it is the idiom.
-compile(nowarn_deprecated_catch).

-export([ensure_started/0, create/3, destroy/1, list/0, migrate/3, failover/2, failover/3, forget/1,
         freeze/3, thaw/1, stop_local/1, local_info/1, plan_failover/3]).
-export([init/1, start_child/3, handle_call/3, handle_cast/2, handle_info/2, terminate/2, code_change/3,
         holder/3, holder_loop/1, failover_worker/1, stop_stale/1]).

%%% API (each called through rpc on one node) ---------------------------------------------------------

%% Starts orbit_sandbox_sup under kernel_sup unless it runs already.
ensure_started() ->
    case whereis(orbit_sandbox_sup) of
        Pid when is_pid(Pid) -> ok;
        undefined ->
            Spec = #{id => orbit_sandbox_sup,
                     start => {supervisor, start_link, [{local, orbit_sandbox_sup}, orbit_sandbox, top]},
                     restart => temporary, shutdown => infinity, type => supervisor,
                     modules => [orbit_sandbox]},
            case supervisor:start_child(kernel_sup, Spec) of
                {ok, _} -> sync_from_peers();
                {error, {already_started, _}} -> ok;
                {error, already_present} ->
                    _ = supervisor:delete_child(kernel_sup, orbit_sandbox_sup),
                    ensure_started();
                {error, Reason} -> {error, Reason}
            end
    end.

%% A registry that starts fresh copies the entries of the other nodes before it is used.
sync_from_peers() ->
    {Replies, _Bad} = gen_server:multi_call(nodes(), orbit_sandbox_registry, entries, 5000),
    lists:foreach(fun({_Node, Entries}) when is_list(Entries) -> lists:foreach(fun merge/1, Entries);
                     (_) -> ok
                  end, Replies),
    ok.

%% Starts sandbox Id (a binary) on this node.
%% Children: {module, Module, Arg} | {specs, [ChildSpec]} | {elixir, [Expr]} | {erlang, [Expr]}
%%   (ChildSpec as a supervisor takes it, or Elixir's {Module, Arg} / Module shorthand; Expr is source
%%   text that evaluates to one of those, or to a list of them).
%% Opts: #{strategy => one_for_one | one_for_all | rest_for_one}.
%% -> {ok, Entry} | {error, Reason}
create(Id, Children, Opts) when is_binary(Id), is_map(Opts) ->
    ok = ensure_started(),
    case child_specs(Children) of
        {ok, Specs} ->
            Strategy = maps:get(strategy, Opts, one_for_one),
            locked(Id, fun() ->
                case lookup(Id) of
                    {ok, #{node := N}} -> {error, {already_exists, Id, N}};
                    _ ->
                        Entry = #{id => Id, children => Specs, strategy => Strategy,
                                  created => now_ms(), moves => 0, failovers => 0},
                        start_here(Entry, version_after(Id))
                end
            end);
        {error, _} = E ->
            E
    end.

%% Stops sandbox Id wherever it runs and forgets it. A sandbox whose node is down is only forgotten.
destroy(Id) ->
    ok = ensure_started(),
    locked(Id, fun() ->
        case lookup(Id) of
            {ok, #{node := Node} = E} when Node =:= node() ->
                replicate(tombstone(E)),
                stop_here(Id),
                ok;
            {ok, #{node := Node} = E} ->
                case lists:member(Node, nodes()) of
                    true ->
                        replicate(tombstone(E)),
                        erpc:call(Node, orbit_sandbox, stop_local, [Id], 30000);
                    false ->
                        replicate(tombstone(E)),
                        ok
                end;
            error ->
                {error, {unknown_sandbox, Id}}
        end
    end).

%% Forgets Id without stopping anything (for a sandbox whose node is gone for good).
forget(Id) ->
    ok = ensure_started(),
    locked(Id, fun() ->
        case lookup(Id) of
            {ok, E} -> replicate(tombstone(E)), ok;
            error -> {error, {unknown_sandbox, Id}}
        end
    end).

%% Every sandbox this node knows of (the registry is replicated: any node answers for all), with the
%% live figures of those running here. Starts nothing: a node without the sandbox supervisor has none. -> {ok, [Entry]}, each Entry with a `live` key when it runs here.
list() ->
    case ets:info(orbit_sandbox_table, size) of
        undefined -> {ok, []};
        _ -> list_entries()
    end.

list_entries() ->
    Entries = [slim(E) || {{entry, _}, E} <- ets:tab2list(orbit_sandbox_table), maps:get(status, E) =/= destroyed],
    {ok, [case maps:get(node, E) =:= node() of
              true -> E#{live => local_info(maps:get(id, E))};
              false -> E
          end || E <- Entries]}.

%% The kept handoff states stay on the nodes: a listing says when they were taken and for which children.
slim(#{handoff := #{states := States} = H} = E) ->
    E#{handoff => maps:remove(states, H#{children => [CId || {CId, _} <- States]})};
slim(E) ->
    E.

%% Moves sandbox Id to this node: starts it here, then stops it where it ran. With Handoff, the state of
%% every child that answers sys:get_state/2 is carried over (sys:replace_state/2); those children are
%% suspended on the source meanwhile, and what was still in their mailboxes is counted as dropped.
%% -> {ok, #{entry, from, handed_off, not_handed_off, dropped_messages}} | {error, Reason}
migrate(Id, Handoff, _Opts) ->
    ok = ensure_started(),
    locked(Id, fun() ->
        case lookup(Id) of
            error -> {error, {unknown_sandbox, Id}};
            {ok, #{node := Here}} when Here =:= node() -> {error, {already_on, Here}};
            {ok, #{node := Source} = E} ->
                case lists:member(Source, nodes()) of
                    false -> {error, {node_down, Source}};
                    true -> migrate_from(Source, E, Handoff =:= true)
                end
        end
    end).

migrate_from(Source, E, Handoff) ->
    Id = maps:get(id, E),
    case erpc:call(Source, orbit_sandbox, freeze, [Id, self(), Handoff], 30000) of
        {ok, States, Dropped} ->
            Kept = kept_handoff([{CId, S} || {CId, {ok, S}} <- States]),
            case start_here(E#{moves => maps:get(moves, E, 0) + 1, handoff => Kept}, version_after(Id)) of
                {ok, New} ->
                    {Handed, NotHanded} = inject(Id, States),
                    _ = erpc:call(Source, orbit_sandbox, stop_local, [Id], 30000),
                    {ok, #{entry => New, from => Source, handed_off => Handed,
                           not_handed_off => NotHanded, dropped_messages => Dropped}};
                {error, _} = Err ->
                    _ = erpc:call(Source, orbit_sandbox, thaw, [Id], 30000),
                    Err
            end;
        {error, _} = Err ->
            Err
    end.

%% Starts here sandbox Id that ran on DeadNode, unless it moved meanwhile (then says where it is, and
%% how it got there when it was failed over from DeadNode). Called by Orbit; the registry calls
%% failover/3 with #{by => cluster} when it fails a sandbox over by itself.
%% -> {ok, #{entry, from, lost, restored, handoff_at}} | {ok, #{entry, already => true[, record]}}
%%    | {error, Reason}
failover(Id, DeadNode) ->
    failover(Id, DeadNode, #{by => orbit}).

failover(Id, DeadNode, Opts) ->
    ok = ensure_started(),
    By = maps:get(by, Opts, orbit),
    locked(Id, fun() ->
        case lookup(Id) of
            error -> {error, {unknown_sandbox, Id}};
            {ok, #{node := DeadNode} = E} ->
                case lists:member(DeadNode, nodes()) of
                    true -> {error, {node_up, DeadNode}};
                    false -> failover_here(E, DeadNode, By)
                end;
            {ok, E} ->
                Record = [R || #{event := failover, from := F} = R <- maps:get(history, E, []), F =:= DeadNode],
                case Record of
                    [Last | _] -> {ok, #{entry => E, already => true, record => Last}};
                    [] -> {ok, #{entry => E, already => true}}
                end
        end
    end).

failover_here(E, DeadNode, By) ->
    Id = maps:get(id, E),
    E1 = E#{failovers => maps:get(failovers, E, 0) + 1},
    case start_here(E1, version_after(Id)) of
        {ok, New} ->
            {States, HandoffAt} = case maps:get(handoff, E, none) of
                                      #{states := St, at := At} -> {St, At};
                                      #{at := At} -> {[], At};
                                      _ -> {[], undefined}
                                  end,
            {Restored, _NotRestored} = inject(Id, [{CId, {ok, S}} || {CId, S} <- States]),
            Lost = [#{id => maps:get(id, S), start => maps:get(start, S)}
                    || S <- maps:get(children, E), not lists:member(maps:get(id, S), Restored)],
            Event = #{event => failover, from => DeadNode, to => node(), at => now_ms(), by => By,
                      restored => Restored, lost => [maps:get(id, L) || L <- Lost],
                      handoff_at => HandoffAt},
            Logged = log_event(New, Event),
            replicate(Logged),
            logger:notice("orbit_sandbox: sandbox ~ts failed over from ~p to ~p (by ~p); state restored for ~p",
                          [Id, DeadNode, node(), By, Restored]),
            {ok, #{entry => Logged, from => DeadNode, lost => Lost, restored => Restored,
                   handoff_at => HandoffAt}};
        {error, Why} = Err ->
            Event = #{event => failover_failed, from => DeadNode, on => node(), at => now_ms(), by => By,
                      reason => Why},
            replicate(log_event(E, Event)),
            Err
    end.

%% The entry with Event first in its history (at most 10 kept) and a newer version.
log_event(E, Event) ->
    {N, _} = maps:get(version, E, {0, 0}),
    History = lists:sublist([Event | maps:get(history, E, [])], 10),
    E#{history => History, version => {N + 1, now_ms()}}.

%% What an entry keeps of a handoff: the states, unless they are too big to copy to every node.
kept_handoff([]) ->
    none;
kept_handoff(States) ->
    case erlang:external_size(States) of
        Size when Size =< 1048576 -> #{at => now_ms(), states => States};
        Size -> #{at => now_ms(), too_large => Size}
    end.

%%% Failover decided in the cluster ----------------------------------------------------------------------

%% Run (in a process of its own) by the registry on every survivor when DeadNode goes down: fails over
%% the sandboxes of DeadNode that this node ranks for, the first-ranked ones at once, the others after a
%% wait and only if the sandbox is still orphaned then.
failover_worker(DeadNode) ->
    Holders = registry_holders(),
    Entries = [E || {{entry, _}, E} <- ets:tab2list(orbit_sandbox_table)],
    Plan = plan_failover(DeadNode, Entries, Holders),
    Mine = lists:keysort(2, [{Id, Rank} || {Id, Ranked} <- Plan,
                                           {Rank, N} <- lists:zip(lists:seq(0, length(Ranked) - 1), Ranked),
                                           N =:= node()]),
    Start = erlang:monotonic_time(millisecond),
    lists:foreach(
      fun({Id, Rank}) ->
              Wait = Start + Rank * 2000 - erlang:monotonic_time(millisecond),
              case Wait > 0 of
                  true -> timer:sleep(Wait);
                  false -> ok
              end,
              Orphaned = case lookup(Id) of
                             {ok, #{node := DeadNode}} -> not lists:member(DeadNode, nodes());
                             _ -> false
                         end,
              case Orphaned of
                  true ->
                      case catch failover(Id, DeadNode, #{by => cluster}) of
                          {ok, _} -> ok;
                          Other -> logger:warning("orbit_sandbox: failover of ~ts from ~p on ~p: ~p",
                                                  [Id, DeadNode, node(), Other])
                      end;
                  false ->
                      ok
              end
      end, Mine).

%% For each sandbox of DeadNode (sorted by id; destroyed and failed ones left out): the nodes of Holders
%% that may start it, best first (fewest sandboxes running, then the lowest name), counting the ones
%% planned before it. Every survivor computes the same plan from the same registry and membership.
%% -> [{Id, [Node]}]
plan_failover(DeadNode, Entries, Holders) ->
    Candidates = lists:usort(Holders) -- [DeadNode],
    Live = [E || #{status := St} = E <- Entries, St =/= destroyed],
    Load0 = lists:foldl(fun(#{node := N}, Acc) -> maps:update_with(N, fun(C) -> C + 1 end, 1, Acc) end,
                        #{}, [E || #{node := N, status := running} = E <- Live, lists:member(N, Candidates)]),
    Orphans = lists:sort([Id || #{id := Id, node := N, status := St} <- Live, N =:= DeadNode, St =/= failed]),
    {Plan, _} = lists:mapfoldl(
                  fun(Id, Load) ->
                          Ranked = lists:sort(fun(A, B) -> {maps:get(A, Load, 0), A} =< {maps:get(B, Load, 0), B} end,
                                              Candidates),
                          case Ranked of
                              [First | _] -> {{Id, Ranked}, Load#{First => maps:get(First, Load, 0) + 1}};
                              [] -> {{Id, []}, Load}
                          end
                  end, Load0, Orphans),
    Plan.

%% This node and the connected nodes whose registry answers.
registry_holders() ->
    {Replies, _Bad} = gen_server:multi_call(nodes(), orbit_sandbox_registry, ping, 2000),
    [node() | [N || {N, _} <- Replies]].

%%% Helpers run on the source node of a migration -----------------------------------------------------

%% Suspends the children (with Handoff) and hands back their states. A holder process resumes them if
%% the migrating process (Migrator, on the target) dies, or after 60 s, unless the sandbox is stopped.
freeze(Id, Migrator, Handoff) ->
    case local_sup(Id) of
        undefined -> {error, {not_running_here, Id, node()}};
        _ when not Handoff -> {ok, [], 0};
        Sup ->
            Workers = [{CId, P} || {CId, P, worker, _} <- supervisor:which_children(Sup), is_pid(P)],
            Results = [{CId, P, suspend_and_get(P)} || {CId, P} <- Workers],
            Suspended = [P || {_, P, {ok, _}} <- Results] ++ [P || {_, P, {error, {no_state, _}}} <- Results],
            States = [{CId, R} || {CId, _, R} <- Results],
            Dropped = lists:sum([queue_len(P) || {_, P, {ok, _}} <- Results]),
            Holder = proc_lib:spawn(orbit_sandbox, holder, [Id, Migrator, Suspended]),
            ets:insert(orbit_sandbox_table, {{holder, Id}, Holder}),
            {ok, States, Dropped}
    end.

suspend_and_get(P) ->
    try
        ok = sys:suspend(P, 2000),
        try sys:get_state(P, 2000) of
            S -> {ok, S}
        catch
            _:Why -> {error, {no_state, Why}}
        end
    catch
        _:Why2 -> {error, {not_suspendable, Why2}}
    end.

queue_len(P) ->
    case erlang:process_info(P, message_queue_len) of
        {message_queue_len, N} -> N;
        undefined -> 0
    end.

holder(Id, Migrator, Suspended) ->
    MRef = erlang:monitor(process, Migrator),
    Deadline = erlang:monotonic_time(millisecond) + 60000,
    orbit_sandbox:holder_loop(#{id => Id, mref => MRef, suspended => Suspended, deadline => Deadline}).

%% Wakes every second (through a fully qualified call) so that a newer orbit_sandbox takes over.
holder_loop(#{id := Id, mref := MRef, suspended := Suspended, deadline := Deadline} = S) ->
    receive
        {orbit_sandbox, stopped} -> holder_done(Id);
        {orbit_sandbox, thaw} -> resume(Suspended), holder_done(Id);
        {'DOWN', MRef, process, _, _} -> resume(Suspended), holder_done(Id)
    after 1000 ->
        case erlang:monotonic_time(millisecond) >= Deadline of
            true -> resume(Suspended), holder_done(Id);
            false -> orbit_sandbox:holder_loop(S)
        end
    end.

holder_done(Id) ->
    catch ets:delete_object(orbit_sandbox_table, {{holder, Id}, self()}),
    ok.

resume(Pids) ->
    [catch sys:resume(P, 2000) || P <- Pids],
    ok.

thaw(Id) ->
    tell_holder(Id, thaw),
    ok.

tell_holder(Id, Msg) ->
    case ets:lookup(orbit_sandbox_table, {holder, Id}) of
        [{_, H}] -> H ! {orbit_sandbox, Msg}, ets:delete(orbit_sandbox_table, {holder, Id});
        [] -> ok
    end.

%% Stops the sandbox's tree on this node (the registry entry is the caller's business).
stop_local(Id) ->
    tell_holder(Id, stopped),
    stop_here(Id),
    ok.

%%% Starting and stopping here --------------------------------------------------------------------------

start_here(Entry, Version) ->
    Id = maps:get(id, Entry),
    Specs = [wrap(Id, S) || S <- maps:get(children, Entry)],
    SupSpec = #{id => {sandbox, Id},
                start => {supervisor, start_link, [orbit_sandbox, {sandbox, Id, maps:get(strategy, Entry), Specs}]},
                restart => temporary, shutdown => infinity, type => supervisor, modules => [orbit_sandbox]},
    _ = supervisor:terminate_child(orbit_sandbox_sup, {sandbox, Id}),
    _ = supervisor:delete_child(orbit_sandbox_sup, {sandbox, Id}),
    ets:insert(orbit_sandbox_table, {{starts, Id}, 0}),
    case supervisor:start_child(orbit_sandbox_sup, SupSpec) of
        {ok, Pid} ->
            New = Entry#{node => node(), status => running, started => now_ms(), version => Version},
            gen_server:call(orbit_sandbox_registry, {watch, Id, Pid}),
            replicate(New),
            {ok, New};
        {error, Reason} ->
            ets:delete(orbit_sandbox_table, {starts, Id}),
            {error, {start_failed, start_reason(Reason)}}
    end.

%% supervisor:start_child/2 of a supervisor whose child failed gives
%% {{shutdown, {failed_to_start_child, ChildId, Why}}, ChildRecord}; keep the child and its reason
%% (an exception without its stack trace).
start_reason({{shutdown, {failed_to_start_child, ChildId, Why}}, _}) -> {child_failed, ChildId, strip(Why)};
start_reason({shutdown, {failed_to_start_child, ChildId, Why}}) -> {child_failed, ChildId, strip(Why)};
start_reason({Why, _ChildRecord}) -> strip(Why);
start_reason(Why) -> strip(Why).

strip({{E, [{_, _, _, _} | _]}, _}) -> E;
strip({E, [{_, _, _, _} | _]}) -> E;
strip({bad_return_value, V}) -> {bad_return_value, V};
strip(Why) -> Why.

stop_here(Id) ->
    catch gen_server:call(orbit_sandbox_registry, {unwatch, Id}, 5000),
    _ = supervisor:terminate_child(orbit_sandbox_sup, {sandbox, Id}),
    _ = supervisor:delete_child(orbit_sandbox_sup, {sandbox, Id}),
    ets:delete(orbit_sandbox_table, {starts, Id}),
    ok.

%% Every child start goes through start_child/3, which counts starts: restarts = starts - children.
wrap(Id, #{id := CId, start := {M, _, _} = Start} = Spec) ->
    Spec#{start => {orbit_sandbox, start_child, [Id, CId, Start]},
          modules => maps:get(modules, Spec, [M])}.

start_child(Id, _ChildId, {M, F, A}) ->
    catch ets:update_counter(orbit_sandbox_table, {starts, Id}, {2, 1}, {{starts, Id}, 0}),
    apply(M, F, A).

inject(Id, States) ->
    case local_sup(Id) of
        undefined ->
            {[], [{CId, not_running} || {CId, _} <- States]};
        Sup ->
            Now = [{CId, P} || {CId, P, _, _} <- supervisor:which_children(Sup)],
            lists:foldr(
              fun({CId, {ok, S}}, {Ok, Bad}) ->
                      case lists:keyfind(CId, 1, Now) of
                          {_, P} when is_pid(P) ->
                              try sys:replace_state(P, fun(_) -> S end, 5000) of
                                  _ -> {[CId | Ok], Bad}
                              catch
                                  _:Why -> {Ok, [{CId, {replace_failed, Why}} | Bad]}
                              end;
                          _ ->
                              {Ok, [{CId, not_running} | Bad]}
                      end;
                 ({CId, {error, Why}}, {Ok, Bad}) ->
                      {Ok, [{CId, Why} | Bad]}
              end, {[], []}, States)
    end.

local_sup(Id) ->
    case whereis(orbit_sandbox_sup) of
        undefined -> undefined;
        _ ->
            case lists:keyfind({sandbox, Id}, 1, supervisor:which_children(orbit_sandbox_sup)) of
                {_, P, _, _} when is_pid(P) -> P;
                _ -> undefined
            end
    end.

%% Live figures of a sandbox running here.
local_info(Id) ->
    case local_sup(Id) of
        undefined ->
            #{running => false};
        Sup ->
            Children = [#{id => CId, pid => P, type => T, modules => Ms}
                        || {CId, P, T, Ms} <- supervisor:which_children(Sup)],
            Starts = case ets:lookup(orbit_sandbox_table, {starts, Id}) of
                         [{_, N}] -> N;
                         [] -> 0
                     end,
            Entry = case lookup(Id) of
                        {ok, E} -> E;
                        error -> #{children => []}
                    end,
            #{running => true, supervisor => Sup, children => Children,
              memory => tree_memory(Sup),
              restarts => max(0, Starts - length(maps:get(children, Entry, [])))}
    end.

tree_memory(Sup) ->
    Mine = case erlang:process_info(Sup, memory) of
               {memory, M} -> M;
               undefined -> 0
           end,
    Kids = try supervisor:which_children(Sup) catch _:_ -> [] end,
    Mine + lists:sum([case T of
                          supervisor -> tree_memory(P);
                          _ -> case erlang:process_info(P, memory) of
                                   {memory, M2} -> M2;
                                   undefined -> 0
                               end
                      end || {_, P, T, _} <- Kids, is_pid(P)]).

%%% Child specs ---------------------------------------------------------------------------------------

child_specs({module, M, Arg}) -> specs([{M, Arg}]);
child_specs({specs, L}) when is_list(L) -> specs(L);
child_specs({elixir, Exprs}) when is_list(Exprs) -> eval_all(fun eval_elixir/1, Exprs);
child_specs({erlang, Exprs}) when is_list(Exprs) -> eval_all(fun eval_erlang/1, Exprs);
child_specs(Other) -> {error, {bad_children, Other}}.

eval_all(Eval, Exprs) ->
    try lists:append([case Eval(X) of
                          L when is_list(L) -> L;
                          V -> [V]
                      end || X <- Exprs]) of
        Values -> specs(Values)
    catch
        throw:{orbit_eval, Why} -> {error, Why}
    end.

eval_elixir(Src) ->
    case code:ensure_loaded('Elixir.Code') of
        {module, _} ->
            try 'Elixir.Code':eval_string(Src) of
                {V, _} -> V
            catch
                Class:Why -> throw({orbit_eval, {eval_failed, Src, {Class, Why}}})
            end;
        _ ->
            throw({orbit_eval, {no_elixir, node()}})
    end.

eval_erlang(Src) ->
    S = unicode:characters_to_list(Src),
    S1 = case lists:reverse(string:trim(S)) of
             "." ++ _ -> S;
             _ -> S ++ "."
         end,
    try
        {ok, Tokens, _} = erl_scan:string(S1),
        {ok, Exprs} = erl_parse:parse_exprs(Tokens),
        {value, V, _} = erl_eval:exprs(Exprs, erl_eval:new_bindings()),
        V
    catch
        Class:Why -> throw({orbit_eval, {eval_failed, Src, {Class, Why}}})
    end.

specs(L) ->
    try [spec(X) || X <- L] of
        Specs ->
            case supervisor:check_childspecs(Specs) of
                ok -> {ok, Specs};
                {error, Why} -> {error, {bad_child_spec, Why}}
            end
    catch
        throw:{orbit_spec, Why} -> {error, Why}
    end.

spec(#{} = Map) ->
    Map;
spec({Id, Start, Restart, Shutdown, Type, Mods}) ->
    #{id => Id, start => Start, restart => Restart, shutdown => Shutdown, type => Type, modules => Mods};
spec({M, Arg}) when is_atom(M) ->
    module_spec(M, Arg);
spec(M) when is_atom(M) ->
    module_spec(M, []);
spec(Other) ->
    throw({orbit_spec, {bad_child_spec, Other}}).

module_spec(M, Arg) ->
    case code:ensure_loaded(M) of
        {module, M} ->
            case erlang:function_exported(M, child_spec, 1) of
                true ->
                    try M:child_spec(Arg) of
                        #{} = S -> spec(S);
                        Other -> throw({orbit_spec, {bad_child_spec, Other}})
                    catch
                        throw:{orbit_spec, _} = T -> throw(T);
                        Class:Why -> throw({orbit_spec, {child_spec_failed, M, {Class, Why}}})
                    end;
                false ->
                    throw({orbit_spec, {no_child_spec, M}})
            end;
        _ ->
            throw({orbit_spec, {unknown_module, M}})
    end.

%%% Registry ------------------------------------------------------------------------------------------

lookup(Id) ->
    case ets:lookup(orbit_sandbox_table, {entry, Id}) of
        [{_, #{status := destroyed}}] -> error;
        [{_, E}] -> {ok, E};
        [] -> error
    end.

version_after(Id) ->
    case ets:lookup(orbit_sandbox_table, {entry, Id}) of
        [{_, #{version := {N, _}}}] -> {N + 1, now_ms()};
        _ -> {1, now_ms()}
    end.

tombstone(E) ->
    {N, _} = maps:get(version, E, {0, 0}),
    #{id => maps:get(id, E), node => maps:get(node, E), status => destroyed, version => {N + 1, now_ms()},
      children => []}.

%% Writes the entry on every node that runs the registry and waits for them.
replicate(Entry) ->
    _ = gen_server:multi_call([node() | nodes()], orbit_sandbox_registry, {put, Entry}, 5000),
    ok.

locked(Id, Fun) ->
    global:trans({{orbit_sandbox, Id}, self()}, Fun, [node() | nodes()], infinity).

now_ms() -> erlang:system_time(millisecond).

%% Newer version wins. Two survivors of a cut may fail a sandbox over in the same millisecond, each making
%% the same version on its own node: then the entry of the greater node name wins, so that every node keeps
%% the same one and the other copy is stopped once they meet.
merge(#{id := Id, version := _} = Entry) ->
    case ets:lookup(orbit_sandbox_table, {entry, Id}) of
        [{_, Old}] when is_map(Old) ->
            case rank(Old) >= rank(Entry) of
                true -> ok;
                false -> take(Entry)
            end;
        _ ->
            take(Entry)
    end;
merge(_) ->
    ok.

rank(E) ->
    {maps:get(version, E, {0, 0}), maps:get(node, E, undefined)}.

take(#{id := Id} = Entry) ->
    ets:insert(orbit_sandbox_table, {{entry, Id}, Entry}),
    stop_if_stale(Entry),
    ok.

%% The registry now puts sandbox Id on another node (or destroyed it) while it was started here and not
%% stopped: it was failed over while this node was cut off from the others. The copy here is stopped
%% (under the sandbox's lock, once the entry still says so), so that one copy runs once the cut heals.
%% (The {starts, Id} key exists only where the sandbox was started and not stopped.)
stop_if_stale(#{id := Id} = Entry) ->
    Elsewhere = maps:get(node, Entry, node()) =/= node() orelse maps:get(status, Entry, running) =:= destroyed,
    case Elsewhere andalso ets:member(orbit_sandbox_table, {starts, Id}) of
        true -> proc_lib:spawn(fun() -> orbit_sandbox:stop_stale(Id) end);
        false -> ok
    end.

stop_stale(Id) ->
    locked(Id, fun() ->
        Here = node(),
        case lookup(Id) of
            {ok, #{node := Here}} ->
                ok;
            _ ->
                case local_sup(Id) of
                    undefined -> ok;
                    _ ->
                        logger:notice("orbit_sandbox: sandbox ~ts runs elsewhere now; stopping the copy on ~p",
                                      [Id, node()]),
                        stop_local(Id)
                end
        end
    end).

%%% Supervisor and gen_server callbacks ---------------------------------------------------------------

init(top) ->
    orbit_sandbox_table = ets:new(orbit_sandbox_table, [named_table, public, set]),
    Registry = #{id => orbit_sandbox_registry,
                 start => {gen_server, start_link, [{local, orbit_sandbox_registry}, orbit_sandbox, registry, []]},
                 restart => permanent, shutdown => 5000, type => worker, modules => [orbit_sandbox]},
    {ok, {#{strategy => one_for_one, intensity => 10, period => 10}, [Registry]}};
init({sandbox, _Id, Strategy, Specs}) ->
    {ok, {#{strategy => Strategy, intensity => 3, period => 5}, Specs}};
init(registry) ->
    ok = net_kernel:monitor_nodes(true),
    gen_server:abcast(nodes(), orbit_sandbox_registry, {sync_request, node()}),
    %% Sandboxes that run here already (the registry restarted) are watched again once the supervisor,
    %% which is starting this process, can answer.
    self() ! rewatch,
    {ok, #{monitors => #{}}}.

handle_call(ping, _From, S) ->
    {reply, pong, S};
handle_call(entries, _From, S) ->
    {reply, [E || {{entry, _}, E} <- ets:tab2list(orbit_sandbox_table)], S};
handle_call({put, Entry}, _From, S) ->
    merge(Entry),
    {reply, ok, S};
handle_call({watch, Id, Pid}, _From, #{monitors := M} = S) ->
    {reply, ok, S#{monitors := M#{erlang:monitor(process, Pid) => Id}}};
handle_call({unwatch, Id}, _From, #{monitors := M} = S) ->
    Mine = [R || {R, I} <- maps:to_list(M), I =:= Id],
    [erlang:demonitor(R, [flush]) || R <- Mine],
    {reply, ok, S#{monitors := maps:without(Mine, M)}};
handle_call(_Other, _From, S) ->
    {reply, {error, unknown_request}, S}.

handle_cast({sync_request, Node}, S) ->
    All = [E || {{entry, _}, E} <- ets:tab2list(orbit_sandbox_table)],
    gen_server:cast({orbit_sandbox_registry, Node}, {put_many, All}),
    {noreply, S};
handle_cast({put_many, Entries}, S) ->
    lists:foreach(fun merge/1, Entries),
    {noreply, S};
handle_cast({put, Entry}, S) ->
    merge(Entry),
    {noreply, S};
handle_cast(_Other, S) ->
    {noreply, S}.

%% A sandbox's supervisor ended on its own (it gave up restarting its children): mark it failed.
handle_info({'DOWN', Ref, process, _Pid, Reason}, #{monitors := M} = S) ->
    case maps:take(Ref, M) of
        {Id, Rest} ->
            case lookup(Id) of
                {ok, #{node := N, status := running} = E} when N =:= node() ->
                    case local_sup(Id) of
                        undefined ->
                            {V, _} = maps:get(version, E),
                            Failed = E#{status => failed, reason => Reason, version => {V + 1, now_ms()}},
                            merge(Failed),
                            gen_server:abcast(nodes(), orbit_sandbox_registry, {put, Failed});
                        _ ->
                            ok
                    end;
                _ ->
                    ok
            end,
            {noreply, S#{monitors := Rest}};
        error ->
            {noreply, S}
    end;
handle_info(rewatch, #{monitors := M} = S) ->
    Running = [{Id, P} || {{sandbox, Id}, P, _, _} <- supervisor:which_children(orbit_sandbox_sup), is_pid(P)],
    Known = maps:values(M),
    New = maps:from_list([{erlang:monitor(process, P), Id} || {Id, P} <- Running, not lists:member(Id, Known)]),
    {noreply, S#{monitors := maps:merge(M, New)}};
handle_info({nodeup, Node}, S) ->
    gen_server:cast({orbit_sandbox_registry, Node}, {sync_request, node()}),
    {noreply, S};
%% A node went down: if it held sandboxes, fail them over (see failover_worker/1), off this process.
handle_info({nodedown, Node}, S) ->
    Held = [Id || {{entry, Id}, #{node := N, status := St}} <- ets:tab2list(orbit_sandbox_table),
                  N =:= Node, St =/= destroyed, St =/= failed],
    case Held of
        [] -> ok;
        _ -> proc_lib:spawn(orbit_sandbox, failover_worker, [Node])
    end,
    {noreply, S};
handle_info(_Other, S) ->
    {noreply, S}.

terminate(_Reason, _S) ->
    ok.

code_change(_Old, S, _Extra) ->
    {ok, S}.
