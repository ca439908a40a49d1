%% Processes on this node, looked at where they live: filtered, sorted and cut to a page here, so that
%% Orbit never receives every process of a node to sort it itself.
%%
%% Names and patterns arrive as binaries and are only ever compared with existing atoms
%% (binary_to_existing_atom), so looking at a node never creates atoms on it.
%%
%% Installed from source text by Orbit: no macros, no includes, no records from headers.
-module(orbit_procs).
%% `catch Expr` is deprecated from OTP 29 on; the agent still runs on OTP 25, where it is the idiom.
-compile(nowarn_deprecated_catch).

-export([list/1, summary/1, info/2, names/1, kill/3, neighbours/1, sup_tree/2, resolve/1, native_top/2]).

%% ---------------------------------------------------------------------------------------------------------
%% Listing

%% Opts: #{sort => memory | reductions | message_queue_len, limit => N,
%%         name => Regex | undefined, module => Regex | undefined, initial_call => Regex | undefined,
%%         status => Binary | undefined, min_queue => N}
%% Returns {ok, #{total => MatchingCount, processes => [Summary]}} with the first Limit processes in
%% descending Sort order, or {error, {bad_pattern, Which, Pattern, Why}} / {error, {bad_status, Status}}.
list(Opts) when is_map(Opts) ->
    case filters(Opts) of
        {error, _} = Error ->
            Error;
        {ok, Filters} ->
            Sort = sort_key(maps:get(sort, Opts, memory)),
            Limit = maps:get(limit, Opts, 20),
            Self = self(),
            Keyed = lists:foldl(
                      fun(P, Acc) when P =:= Self -> Acc;
                         (P, Acc) ->
                              case matches(P, Sort, Filters) of
                                  {true, Key} -> [{Key, P} | Acc];
                                  false -> Acc
                              end
                      end, [], erlang:processes()),
            Top = top(Keyed, Limit),
            {ok, #{total => length(Keyed),
                   processes => [S || {_, P} <- Top, S <- [summary(P)], S =/= undefined]}}
    end.

%% The Limit greatest {Key, Pid}, greatest first.
top(Keyed, Limit) ->
    lists:sublist(lists:reverse(lists:sort(Keyed)), Limit).

sort_key(memory) -> memory;
sort_key(reductions) -> reductions;
sort_key(message_queue_len) -> message_queue_len;
sort_key(queue) -> message_queue_len.

filters(Opts) ->
    try
        Name = pattern(name, maps:get(name, Opts, undefined)),
        Module = pattern(module, maps:get(module, Opts, undefined)),
        Initial = pattern(initial_call, maps:get(initial_call, Opts, undefined)),
        Status = status(maps:get(status, Opts, undefined)),
        {ok, #{name => Name, module => Module, initial_call => Initial, status => Status,
               min_queue => maps:get(min_queue, Opts, 0)}}
    catch
        throw:{orbit_procs_error, Reason} -> {error, Reason}
    end.

pattern(_Which, undefined) ->
    undefined;
pattern(Which, Bin) when is_binary(Bin) ->
    case re:compile(Bin, [unicode]) of
        {ok, Re} -> Re;
        {error, {Why, Pos}} -> throw({orbit_procs_error, {bad_pattern, Which, Bin, {list_to_binary(Why), Pos}}})
    end.

status(undefined) ->
    undefined;
status(Bin) when is_binary(Bin) ->
    Known = [<<"running">>, <<"runnable">>, <<"waiting">>, <<"suspended">>, <<"garbage_collecting">>,
             <<"exiting">>],
    case lists:member(Bin, Known) of
        true -> binary_to_existing_atom(Bin, utf8);
        false -> throw({orbit_procs_error, {bad_status, Bin}})
    end.

%% Cheap items first; names and calls only when a filter needs them.
matches(P, Sort, #{name := Name, module := Module, initial_call := Initial, status := Status,
                   min_queue := MinQueue}) ->
    Items = [Sort, message_queue_len | [status || Status =/= undefined]],
    case erlang:process_info(P, Items) of
        undefined ->
            false;
        Info ->
            {Sort, Key} = lists:keyfind(Sort, 1, Info),
            {message_queue_len, Q} = lists:keyfind(message_queue_len, 1, Info),
            StatusOk = Status =:= undefined orelse lists:keyfind(status, 1, Info) =:= {status, Status},
            case StatusOk andalso Q >= MinQueue
                andalso name_ok(P, Name) andalso calls_ok(P, Module, Initial) of
                true -> {true, Key};
                false -> false
            end
    end.

name_ok(_P, undefined) ->
    true;
name_ok(P, Re) ->
    case erlang:process_info(P, registered_name) of
        {registered_name, N} when is_atom(N) -> atom_matches(N, Re);
        _ -> false
    end.

calls_ok(_P, undefined, undefined) ->
    true;
calls_ok(P, Module, Initial) ->
    case erlang:process_info(P, [current_function, initial_call, dictionary]) of
        undefined ->
            false;
        [{current_function, Current}, {initial_call, Init0}, {dictionary, Dict}] ->
            Init = resolved_initial_call(Init0, Dict),
            module_ok(Module, [Current, Init]) andalso initial_ok(Initial, Init)
    end.

module_ok(undefined, _Calls) ->
    true;
module_ok(Re, Calls) ->
    lists:any(fun({M, _, _}) -> atom_matches(M, Re); (_) -> false end, Calls).

initial_ok(undefined, _Init) ->
    true;
initial_ok(Re, {M, F, A}) ->
    Texts = [iolist_to_binary([atom_to_binary(M, utf8), ":", atom_to_binary(F, utf8), "/", integer_to_binary(A)]),
             iolist_to_binary([elixir_name(M), ".", atom_to_binary(F, utf8), "/", integer_to_binary(A)])],
    lists:any(fun(T) -> re:run(T, Re, [{capture, none}]) =:= match end, Texts);
initial_ok(_Re, _) ->
    false.

%% An atom matches when its own text or its Elixir spelling does ('Elixir.Bank.Mailbox' / Bank.Mailbox).
atom_matches(A, Re) ->
    Raw = atom_to_binary(A, utf8),
    re:run(Raw, Re, [{capture, none}]) =:= match
        orelse re:run(elixir_name(A), Re, [{capture, none}]) =:= match.

elixir_name(A) ->
    case atom_to_binary(A, utf8) of
        <<"Elixir.", Rest/binary>> -> Rest;
        Other -> Other
    end.

%% proc_lib processes (every GenServer, Supervisor, Task…) start in proc_lib:init_p/5; the call that
%% matters is kept in their dictionary.
resolved_initial_call({proc_lib, init_p, 5} = Init, Dict) ->
    case lists:keyfind('$initial_call', 1, Dict) of
        {_, {M, F, A}} when is_atom(M), is_atom(F), is_integer(A) -> {M, F, A};
        _ -> Init
    end;
resolved_initial_call(Init, _Dict) ->
    Init.

%% One process in brief, or undefined when it has exited. label: what proc_lib:set_label/1 gave it
%% (OTP 27+), or undefined.
summary(P) ->
    Items = [registered_name, memory, reductions, message_queue_len, status, current_function, initial_call
             | label_item()],
    case erlang:process_info(P, Items) of
        undefined ->
            undefined;
        Info ->
            M = maps:from_list(Info),
            Name = case maps:get(registered_name, M) of [] -> undefined; N -> N end,
            M#{pid => P, registered_name => Name, label => maps:get(label, M, undefined),
               initial_call => initial_call(P, maps:get(initial_call, M))}
    end.

%% How a process is named: {RegisteredName | undefined, Label | undefined}, or undefined when it has
%% exited (the debugger names its threads so, once per process).
names(P) when is_pid(P) ->
    case erlang:process_info(P, [registered_name | label_item()]) of
        undefined ->
            undefined;
        Info ->
            Name = case lists:keyfind(registered_name, 1, Info) of
                       {_, N} when is_atom(N), N =/= [] -> N;
                       _ -> undefined
                   end,
            Label = case lists:keyfind(label, 1, Info) of
                        {_, L} -> L;
                        false -> undefined
                    end,
            {Name, Label}
    end.

%% Process labels (proc_lib:set_label/1, OTP 27+) are a process_info/2 item there: [label], read in the
%% same call as the other items (a process without one has undefined). [] on OTP 25/26, where
%% process_info/2 does not know the item.
label_item() ->
    try erlang:process_info(self(), label) of
        _ -> [label]
    catch
        error:badarg -> []
    end.

initial_call(P, {proc_lib, init_p, 5} = Init) ->
    case erlang:process_info(P, dictionary) of
        {dictionary, Dict} -> resolved_initial_call(Init, Dict);
        undefined -> Init
    end;
initial_call(_P, Init) ->
    Init.

%% ---------------------------------------------------------------------------------------------------------
%% One process

%% Text such as <<"<0.123.0>">> or a registered name (<<"Bank.Mailbox">>, <<"rex">>) to a local pid.
resolve(Text) when is_binary(Text) ->
    case Text of
        <<"<", _/binary>> ->
            try list_to_pid(binary_to_list(Text)) of
                P when node(P) =:= node() -> alive(P, Text);
                _ -> {error, {not_local, Text}}
            catch
                error:badarg -> {error, {bad_pid, Text}}
            end;
        _ ->
            case registered(Text) of
                undefined -> {error, {not_registered, Text}};
                P -> {ok, P}
            end
    end.

alive(P, Text) ->
    case erlang:is_process_alive(P) of
        true -> {ok, P};
        false -> {error, {noproc, Text}}
    end.

registered(Text) ->
    Candidates = [Text, <<"Elixir.", Text/binary>>],
    lists:foldl(fun(_, P) when is_pid(P) -> P;
                   (C, undefined) ->
                        try binary_to_existing_atom(C, utf8) of
                            A -> case whereis(A) of P when is_pid(P) -> P; _ -> undefined end
                        catch error:badarg -> undefined
                        end
                end, undefined, Candidates).

%% Opts: #{state_timeout => Ms | 0 (no state), messages => N (show the queue when it holds at most N)}.
info(P, Opts) when is_pid(P), is_map(Opts) ->
    Items = [registered_name, status, message_queue_len, memory, heap_size, total_heap_size, stack_size,
             reductions, links, monitors, monitored_by, trap_exit, priority, group_leader, current_function,
             initial_call, current_stacktrace, dictionary | label_item()],
    case erlang:process_info(P, Items) of
        undefined ->
            {error, noproc};
        Info ->
            M = maps:from_list(Info),
            Dict = maps:get(dictionary, M),
            Name = case maps:get(registered_name, M) of [] -> undefined; N -> N end,
            Otp = lists:keymember('$initial_call', 1, Dict) orelse lists:keymember('$ancestors', 1, Dict),
            Base = maps:without([dictionary], M),
            {ok, Base#{pid => P,
                       registered_name => Name,
                       label => maps:get(label, M, undefined),
                       initial_call => resolved_initial_call(maps:get(initial_call, M), Dict),
                       ancestors => proplists:get_value('$ancestors', Dict, []),
                       otp => Otp,
                       messages => messages(P, maps:get(message_queue_len, M), maps:get(messages, Opts, 20)),
                       state => state(P, Otp, maps:get(state_timeout, Opts, 5000))}}
    end.

messages(_P, _Len, 0) ->
    skipped;
messages(P, Len, Max) when Len =< Max ->
    case erlang:process_info(P, messages) of
        {messages, Ms} -> {ok, lists:sublist(Ms, Max)};
        undefined -> {ok, []}
    end;
messages(_P, Len, _Max) ->
    {too_many, Len}.

%% sys:get_state only for OTP processes: a plain process would keep the system message forever.
state(_P, _Otp, 0) ->
    skipped;
state(_P, false, _Timeout) ->
    {error, not_otp};
state(P, true, Timeout) ->
    try sys:get_state(P, Timeout) of
        S -> {ok, S}
    catch
        exit:{timeout, _} -> {error, timeout};
        exit:{noproc, _} -> {error, noproc};
        exit:{Reason, _} -> {error, Reason};
        Class:Reason -> {error, {Class, Reason}}
    end.

%% exit(P, Reason), then waits up to Timeout for P to go: {ok, {exited, Why}} or {ok, still_alive}
%% (a process that traps exits ignores any reason but kill).
kill(P, Reason, Timeout) when is_pid(P) ->
    case erlang:is_process_alive(P) of
        false ->
            {error, noproc};
        true ->
            Ref = erlang:monitor(process, P),
            exit(P, Reason),
            receive
                {'DOWN', Ref, process, P, Why} -> {ok, {exited, Why}}
            after Timeout ->
                erlang:demonitor(Ref, [flush]),
                {ok, still_alive}
            end
    end.

%% Links and monitors of each pid, for Orbit's graph across nodes.
neighbours(Pids) when is_list(Pids) ->
    [{P, neighbour(P)} || P <- Pids].

neighbour(P) when is_pid(P), node(P) =:= node() ->
    case erlang:process_info(P, [registered_name, links, monitors, monitored_by]) of
        undefined ->
            noproc;
        Info ->
            M = maps:from_list(Info),
            Name = case maps:get(registered_name, M) of [] -> undefined; N -> N end,
            M#{registered_name => Name,
               monitors => [monitored(X) || X <- maps:get(monitors, M)]}
    end;
neighbour(_) ->
    not_local.

%% A monitor of a process by name is {process, {Name, Node}}: resolve it when the name is local.
monitored({process, P}) when is_pid(P) -> P;
monitored({process, {Name, Node}}) when Node =:= node() ->
    case whereis(Name) of P when is_pid(P) -> P; _ -> {Name, Node} end;
monitored({process, {Name, Node}}) -> {Name, Node};
monitored({port, P}) -> P;
monitored(Other) -> Other.

%% ---------------------------------------------------------------------------------------------------------
%% Supervision trees

%% Target: {name, Binary} (an application, else a registered supervisor) or {pid, Pid}.
%% Returns {ok, Tree} | {error, {unknown, Binary}}; a tree node is
%% #{pid, name, id, type => supervisor | worker, modules, children => [Node], more => N} and a child that
%% lives on another node is #{pid, remote => true, …} for Orbit to expand there.
sup_tree({pid, P}, Depth) when is_pid(P) ->
    case erlang:is_process_alive(P) of
        true -> {ok, sup_node(P, undefined, supervisor, [], Depth)};
        false -> {error, noproc}
    end;
sup_tree({name, Text}, Depth) when is_binary(Text) ->
    case application_top(Text) of
        {ok, App, Top} ->
            {ok, (sup_node(Top, undefined, supervisor, [], Depth))#{application => App}};
        none ->
            case registered(Text) of
                undefined -> {error, {unknown, Text}};
                P -> {ok, sup_node(P, undefined, supervisor, [], Depth)}
            end
    end.

application_top(Text) ->
    Name = case Text of <<":", Rest/binary>> -> Rest; _ -> Text end,
    try binary_to_existing_atom(Name, utf8) of
        App ->
            case application_controller:get_master(App) of
                Master when is_pid(Master) ->
                    case catch application_master:get_child(Master) of
                        {Top, _Mod} when is_pid(Top) -> {ok, App, Top};
                        _ -> none
                    end;
                _ ->
                    none
            end
    catch
        error:badarg -> none
    end.

sup_node(P, Id, Type, Modules, Depth) when node(P) =/= node() ->
    #{pid => P, id => Id, type => Type, modules => Modules, remote => true, children => [], more => 0,
      depth => Depth};
sup_node(P, Id, Type, Modules, Depth) ->
    Name = case erlang:process_info(P, registered_name) of
               {registered_name, N} when is_atom(N) -> N;
               _ -> undefined
           end,
    Base = #{pid => P, name => Name, id => Id, type => Type, modules => Modules, children => [], more => 0},
    case Type of
        supervisor when Depth > 0 ->
            case catch gen_server:call(P, which_children, 5000) of
                Children when is_list(Children) ->
                    Shown = lists:sublist(Children, 200),
                    Base#{children => [child(C, Depth - 1) || C <- Shown],
                          more => length(Children) - length(Shown)};
                Other ->
                    Base#{error => Other}
            end;
        _ ->
            Base
    end.

child({Id, Child, Type, Modules}, Depth) when is_pid(Child) ->
    sup_node(Child, Id, Type, Modules, Depth);
child({Id, Child, Type, Modules}, _Depth) ->
    #{pid => Child, id => Id, type => Type, modules => Modules, children => [], more => 0}.

%% ---------------------------------------------------------------------------------------------------------
%% The native baseline of Orbit's benchmark: the same top-N query, written plainly, timed here.
%% Returns {Microseconds, Pids}.
native_top(Sort, N) ->
    T0 = erlang:monotonic_time(microsecond),
    Keyed = lists:foldl(fun(P, Acc) ->
                                case erlang:process_info(P, Sort) of
                                    {Sort, K} -> [{K, P} | Acc];
                                    undefined -> Acc
                                end
                        end, [], erlang:processes()),
    Top = [summary(P) || {_, P} <- top(Keyed, N)],
    {erlang:monotonic_time(microsecond) - T0, length(Top)}.
